"""Errors the media plane reports to signalling, each with a stable protocol code."""


class MediaError(Exception):
    code = "media_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidSdp(MediaError):
    code = "invalid_sdp"


class UnsupportedCodec(MediaError):
    code = "unsupported_codec"


class NegotiationError(MediaError):
    code = "negotiation_error"


class UnknownParticipant(MediaError):
    code = "not_joined"


class InvalidCandidate(MediaError):
    code = "invalid_candidate"


class PermissionDenied(MediaError):
    code = "permission_denied"
