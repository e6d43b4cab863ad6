/**
 * The API key the page reads once: from `?key=` in the address (then taken out of it, so that it stays in
 * neither the address bar, the history nor a bookmark), else from the form. Kept in memory only — never in
 * localStorage, sessionStorage or a cookie.
 */

export interface KeyFromUrl {
  key: string | null;
  /** The address without `key` (the same when it had none). */
  cleaned: string;
}

export function keyFromUrl(href: string): KeyFromUrl {
  const url = new URL(href);
  const key = url.searchParams.get("key")?.trim() || null;
  if (!url.searchParams.has("key")) return { key, cleaned: href };
  url.searchParams.delete("key");
  return { key, cleaned: `${url.pathname}${url.search}${url.hash}` };
}
