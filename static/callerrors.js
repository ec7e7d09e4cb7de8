// Why a call could not start or had to end: the error codes (docs/protocol.md) after
// which trying again cannot help, those that mean a host ended the call for us, and the
// sentence the page shows for each.

// Errors after which trying again cannot help.
const FATAL = new Set([
  "room_full",
  "invalid_message",
  "already_joined",
  "replaced",
  "token_required",
  "token_refused",
  "token_invalid",
  "token_expired",
  "token_not_yet_valid",
  "token_revoked",
  "room_mismatch",
  "permission_denied",
  "room_locked",
  "lobby_rejected",
  "kicked",
  "room_closed",
  "e2ee_required",
  "e2ee_passphrase_required",
]);

// Endings decided by a host: the page leaves the call and does not come back by itself.
export const ENDED_BY_HOST = new Set(["kicked", "token_revoked", "room_closed", "lobby_rejected"]);

export class CallError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
    this.fatal = FATAL.has(code);
  }
}

export function describeCallError(code, message) {
  switch (code) {
    case "room_full":
      return "This room is full. Try again later, or ask the host for another room.";
    case "invalid_message":
      return "This room link is not valid. Room names use letters, digits, dots, dashes and underscores (at most 64).";
    case "unreachable":
      return "Can't reach the Huddle server. Check your network connection; retrying may help.";
    case "timeout":
      return "The server did not answer in time. Please try again.";
    case "replaced":
      return "You joined this room from another tab or window.";
    case "token_required":
      return "This server admits people with an invitation link only. Ask the host for one.";
    case "token_expired":
      return "This invitation link has expired. Ask the host for a new one.";
    case "token_not_yet_valid":
      return "This invitation link is not valid yet. Check your computer's clock, or try again later.";
    case "token_invalid":
    case "token_refused":
      return "This invitation link is not valid. Ask the host for a new one.";
    case "token_revoked":
    case "kicked":
      return "You were removed from this room.";
    case "room_mismatch":
      return "This invitation link is for another room.";
    case "permission_denied":
      return "Your invitation does not allow joining this room.";
    case "room_locked":
      return "This room is locked.";
    case "lobby_rejected":
      return "The host declined your request to join.";
    case "e2ee_required":
    case "e2ee_passphrase_required":
      return "This room is end-to-end encrypted. Enter the room's passphrase to join.";
    case "room_closed":
      return "A host closed this room. The call has ended.";
    default:
      return message || `The server refused to join (${code}).`;
  }
}
