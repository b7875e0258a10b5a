"""A run's log lines in its run folder: :func:`log_to_run_folder` (``RUN/logs/``, with the quiet console on)."""

from __future__ import annotations

from mer_ray.search.run_folder import RunFolder


def log_to_run_folder(folder: RunFolder) -> None:
    """With the quiet console on: library output continues in ``RUN/logs/driver.log``; ``RUN/logs/ray`` links to
    this Ray session's own logs (the workers' output)."""
    from mer_ray.infra.console import active
    from mer_ray.infra.runtime import ray_session_dir

    console = active()
    if console is None:
        return
    logs = folder.root / "logs"
    console.attach(logs / "driver.log")
    console.route_library_logs()  # Tune and Optuna are imported by now
    session = ray_session_dir()
    if session is None:
        return
    link = logs / "ray"
    try:
        if (session / "logs").is_dir() and not link.exists():
            link.symlink_to(session / "logs", target_is_directory=True)
    except OSError:
        pass
