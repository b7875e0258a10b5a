"""Named hyperparameter search spaces, one module each; `--search NAME` picks one."""
