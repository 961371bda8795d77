"""Docker: the engine (the one door to python-on-whales), compose facts, compose progress
events and the host/engine GPU layers."""
