// Where the API serves a project image and its thumbnail.
export function imageUrls(
  project: string,
  img: { class: string; file: string },
): { url: string; thumbnailUrl: string } {
  const base = `/v1/projects/${encodeURIComponent(project)}/classes/${encodeURIComponent(img.class)}/images/${img.file}`;
  return { url: base, thumbnailUrl: `${base}/thumbnail` };
}
