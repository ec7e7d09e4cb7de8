// Where the page's access token comes from (docs/browser-client.md, "Tokens"):
// 1. an invitation link carries one in its fragment, /r/<room>#token=<jwt>; the
//    fragment never reaches the server's logs, and the page removes it from the
//    address bar (kept for this tab, so a reload still works);
// 2. otherwise a development server (loopback, no API keys) hands one out at
//    POST /api/dev/token. Any other server answers 404 there: the page then asks
//    for an invitation link.

import { fromBase64Url } from "./util.js";

const STORAGE_PREFIX = "huddle.token.";

export class TokenError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

// Take a token out of the link's fragment, keep it for this tab, clean the address bar.
export function takeLinkToken(room) {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (token) {
    remember(room, token);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
    return token;
  }
  return recall(room);
}

// The claims of a JWT, unverified: the page only reads its own name and room from them.
export function tokenClaims(token) {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(fromBase64Url(token.split(".")[1])));
  } catch {
    return {};
  }
}

export async function tokenFor({ room, name, identity, linkToken }) {
  if (linkToken) return linkToken;
  let response;
  try {
    response = await fetch("/api/dev/token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ room, name, identity }),
    });
  } catch {
    throw new TokenError("unreachable", "Can't reach the Huddle server.");
  }
  if (response.status === 404) {
    throw new TokenError("token_required", "This server admits people with an invitation link only.");
  }
  if (!response.ok) throw new TokenError("token_refused", `The server refused a token (${response.status}).`);
  return (await response.json()).token;
}

function remember(room, token) {
  try {
    sessionStorage.setItem(STORAGE_PREFIX + room, token);
  } catch {
    // storage disabled: the token lives as long as the page
  }
}

function recall(room) {
  try {
    return sessionStorage.getItem(STORAGE_PREFIX + room);
  } catch {
    return null;
  }
}
