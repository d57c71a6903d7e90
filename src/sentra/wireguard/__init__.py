"""WireGuard management: interfaces and peers in SQLite, configs rendered and applied with
``wg syncconf``, a poller that reads ``wg show all dump`` off the event loop and publishes
one status event per peer, and a status cache the API answers from (seed 003)."""
