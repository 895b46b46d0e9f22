"""AMI adapter: connection, translation of events, execution of commands."""
