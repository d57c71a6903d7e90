"""The live hub: bus events coalesced into frames and fanned out to WebSocket/SSE clients.

``filters`` (pure) parses what a client wants; ``frames`` (pure) selects and encodes the
items of one frame; ``hub`` owns the clients, their bounded queues and the frame loop.
"""
