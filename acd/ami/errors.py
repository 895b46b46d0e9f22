"""Errors of the AMI adapter, each with a message an operator can act on."""


class AmiError(Exception):
    """Base class of AMI adapter errors."""


class AmiAuthError(AmiError):
    """Asterisk refused our AMI username/secret."""


class AmiUnreachable(AmiError):
    """No AMI connection could be made (refused, timed out, no banner)."""


class AmiNotConnected(AmiError):
    """An action was asked for while the AMI connection is down."""


class AmiDisconnected(AmiError):
    """The connection dropped before Asterisk answered; the action is not resent."""


class AmiTimeout(AmiError):
    """Asterisk did not answer an action in time."""


class AmiActionFailed(AmiError):
    """Asterisk answered an action with an error."""
