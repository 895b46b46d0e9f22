"""The call-centre service: the pure ACD core wired to Asterisk, the IVR, agents and storage.

- ``pipeline``: the core's outputs carried out in order (commands to AMI, facts to storage).
- ``callflow``: what the IVR and agents ask (queue a caller, callbacks, survey, agent states).
- ``control``: call control asked for through the API (hold, transfer, listen, recording...).
- ``tracking``: what Asterisk reports about our calls, fed back into the core.
- ``recording``: a recording's row from start to finish, checksum and length included.
- ``adoption``: taking back agents and callers after an engine restart.
- ``facts``: storing facts in order, off the event path.
"""
