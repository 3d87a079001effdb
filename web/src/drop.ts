// Drag-and-drop of files and whole folders (walked with webkitGetAsEntry), for class cards and try-it.
import { guard } from './state';

/** Drag-and-drop of files and whole folders (walked with webkitGetAsEntry). */
export function setupDrop(el: HTMLElement, onFiles: (files: File[]) => Promise<void> | void): void {
  let depth = 0;
  el.addEventListener('dragenter', (e) => {
    e.preventDefault();
    depth++;
    el.classList.add('dragging');
  });
  el.addEventListener('dragover', (e) => {
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
  });
  el.addEventListener('dragleave', () => {
    if (--depth <= 0) el.classList.remove('dragging');
  });
  el.addEventListener('drop', (e) => {
    e.preventDefault();
    depth = 0;
    el.classList.remove('dragging');
    const dt = e.dataTransfer;
    if (!dt) return;
    const entries = [...dt.items].map((it) => (it.kind === 'file' ? it.webkitGetAsEntry?.() : null));
    if (entries.some((en) => en?.isDirectory))
      void guard(
        async () => void (await onFiles(await filesFromEntries(entries.filter((x): x is FileSystemEntry => !!x)))),
      );
    else void onFiles([...dt.files]);
  });
}

async function filesFromEntries(entries: FileSystemEntry[]): Promise<File[]> {
  const out: File[] = [];
  const walk = async (entry: FileSystemEntry): Promise<void> => {
    if (entry.isFile) {
      out.push(await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej)));
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const child of batch) if (!child.name.startsWith('.')) await walk(child);
      }
    }
  };
  for (const e of entries) await walk(e);
  return out;
}
