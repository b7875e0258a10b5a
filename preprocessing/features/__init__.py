"""The features folder: the Ray Data pipeline, the shard contract (schema, writer, reader) and dataset preparation."""
