"""The engine-level assistant (being written): owns the model, knowledge, history, policy and audit."""
