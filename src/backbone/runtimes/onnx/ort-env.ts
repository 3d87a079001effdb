// Process-wide onnxruntime settings that must be in place before the first session is created. Import this module
// (for its side effect) wherever onnxruntime-node sessions are created.
//
// onnxruntime-node 1.30's Linux build starts Microsoft 1DS telemetry with the first session. Its start-up reads
// /proc/self/cmdline and matches it with std::regex, which recurses once per character: a long command line (a shell
// glob of ~190 photo paths, ~14 KB) overflows a worker thread's 4 MB stack, and ~200 KB overflows the main thread's:
// exit 139. Telemetry off skips that code (and a local toolkit has no business uploading usage data anyway).
// It is read with getenv() from the real process environment, so it is set here in the main thread: a worker's
// `env` option is only a JavaScript copy.
process.env.ORT_DISABLE_TELEMETRY = '1';

export {};
