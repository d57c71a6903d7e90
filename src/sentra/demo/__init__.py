"""`sentra demo`: self-contained demonstrations that run on loopback and clean up after
themselves. ``canary`` runs a whole guarded rollout: a node, two versions of a small HTTP
service, a traffic split (HAProxy or the pull actuator), synthetic load and a spec."""
