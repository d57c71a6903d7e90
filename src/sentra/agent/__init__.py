"""``sentra agent``: the collectors on another host, pushing to a server through a disk spool."""
