"""The rubric reward served to RL trainers: a client for an OpenAI-compatible judge endpoint, and adapters with
each trainer's own signature (verl, TRL, OpenRLHF)."""
