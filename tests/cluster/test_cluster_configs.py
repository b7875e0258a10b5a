"""The cluster-launcher configs in cluster/ pass Ray's own validator offline and keep their promises.

Ray's validator is `prepare_config` (fills defaults from the provider's defaults.yaml) then `validate_config`
(JSON schema), the order `ray up` uses. Neither touches the network for the aws or local provider; the
`no_network` fixture makes sure of it.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import socket
import sys
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml
from click import ClickException
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"
CONFIGS = ["gpu.yaml", "local.yaml"]
DASHBOARD_PORT = 8265
# Files Ray itself writes to the head's home directory and names in its default start commands.
RAY_MANAGED_PATHS = {"~/ray_bootstrap_config.yaml", "~/ray_bootstrap_key.pem"}
COMMAND_KEYS = [
    "initialization_commands",
    "setup_commands",
    "head_setup_commands",
    "worker_setup_commands",
    "head_start_ray_commands",
    "worker_start_ray_commands",
]
PLACEHOLDER = re.compile(r"\bREPLACE_[A-Z0-9_]+\b")


def ray_schema() -> dict:
    with open(Path(ray.autoscaler.__file__).parent / "ray-schema.json") as f:
        return json.load(f)


def load(name: str) -> dict:
    with open(CLUSTER / name) as f:
        return yaml.safe_load(f)


def ray_validate(config: dict) -> dict:
    """What `ray up` does before touching the cloud: fill defaults, then check the schema."""
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def all_commands(config: dict) -> list[str]:
    commands = [c for key in COMMAND_KEYS for c in config.get(key, [])]
    for node_type in config.get("available_node_types", {}).values():
        for key in ("initialization_commands", "worker_setup_commands"):
            commands += node_type.get(key, [])
    return commands


def docker_sections(config: dict) -> list[dict]:
    sections = [config.get("docker") or {}]
    sections += [t["docker"] for t in config.get("available_node_types", {}).values() if "docker" in t]
    return sections


def non_absolute_paths(command: str) -> list[str]:
    """Path-like arguments of a shell command that are not absolute (URLs and `host:/export` specs skipped)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    bad = []
    for i, token in enumerate(tokens):
        value = token.split("=", 1)[1] if token.startswith("-") and "=" in token else token
        if "://" in value or value in RAY_MANAGED_PATHS:
            continue
        previous = tokens[i - 1] if i else ""
        if previous in ("-e", "--editable", "cd"):
            candidates = [value]  # a path even without a slash
        else:
            candidates = [part for part in value.split(":") if "/" in part]  # docker -v SRC:DST, host:/export
        bad += [c for c in candidates if not c.startswith("/")]
    return bad


def internet_rules_for_port(provider: dict, port: int) -> list[dict]:
    """AWS security-group rules in the config that open `port` to every address."""
    open_rules = []
    for rule in provider.get("security_group", {}).get("IpPermissions", []):
        all_traffic = str(rule.get("IpProtocol")) == "-1"
        in_range = rule.get("FromPort", -1) <= port <= rule.get("ToPort", -1)
        to_everyone = any(r.get("CidrIp") == "0.0.0.0/0" for r in rule.get("IpRanges", [])) or any(
            r.get("CidrIpv6") == "::/0" for r in rule.get("Ipv6Ranges", [])
        )
        if (all_traffic or in_range) and to_everyone:
            open_rules.append(rule)
    return open_rules


def test_network_guard_refuses_connections(no_network):
    with pytest.raises(AssertionError, match="network access attempted"):
        socket.create_connection(("127.0.0.1", 9))


@pytest.mark.parametrize("name", CONFIGS)
def test_config_passes_rays_validator_offline(name, no_network):
    prepared = ray_validate(load(name))

    assert prepared["head_node_type"] in prepared["available_node_types"]


@pytest.mark.parametrize(
    ("name", "key", "typo"),
    [("gpu.yaml", "available_node_types", "availabe_node_types"), ("local.yaml", "setup_commands", "setup_comands")],
)
def test_misspelt_top_level_key_is_rejected(name, key, typo, no_network):
    config = load(name)
    config[typo] = config.pop(key)

    with pytest.raises(jsonschema.ValidationError, match=rf"Additional properties are not allowed \('{typo}' was"):
        ray_validate(config)


@pytest.mark.parametrize(
    ("name", "path", "typo"),
    [
        ("gpu.yaml", ["available_node_types", "gpu_worker", "min_workers"], "min_worker"),
        ("gpu.yaml", ["docker", "pull_before_run"], "pull_befor_run"),
        ("local.yaml", ["auth", "ssh_user"], "ssh_usr"),
    ],
)
def test_misspelt_nested_key_is_rejected(name, path, typo, no_network):
    config = load(name)
    parent = config
    for key in path[:-1]:
        parent = parent[key]
    parent[typo] = parent.pop(path[-1])

    with pytest.raises(jsonschema.ValidationError, match=rf"Additional properties are not allowed \('{typo}' was"):
        ray_validate(config)


def test_local_provider_without_worker_ips_is_rejected(no_network):
    config = load("local.yaml")
    config["provider"]["worker_ip"] = config["provider"].pop("worker_ips")

    with pytest.raises(ClickException, match="list of `worker_ips`"):
        ray_validate(config)


@pytest.mark.parametrize("name", CONFIGS)
def test_provider_keys_are_ones_rays_schema_documents(name, no_network):
    # Ray's schema lets any key into `provider` (additionalProperties: true), so a typo there passes its
    # validator and is silently ignored; this check closes that gap for our files.
    documented = set(ray_schema()["properties"]["provider"]["properties"])
    config = load(name)
    assert set(config["provider"]) <= documented

    config["provider"]["cache_stoped_nodes"] = False
    ray_validate(config)  # Ray accepts the typo ...
    assert not set(config["provider"]) <= documented  # ... this check does not


def test_gpu_worker_scales_from_zero_and_trials_stay_off_the_head():
    config = load("gpu.yaml")
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    gpu_types = {name: t for name, t in types.items() if t.get("resources", {}).get("GPU", 0) >= 1}

    assert gpu_types, "no worker type advertises a GPU"
    assert config["head_node_type"] not in gpu_types
    for gpu_type in gpu_types.values():
        assert gpu_type["min_workers"] == 0
        assert gpu_type["max_workers"] >= 1
    assert head["resources"].get("CPU") == 0
    assert head["resources"].get("GPU", 0) == 0


@pytest.mark.parametrize("name", CONFIGS)
def test_dashboard_is_not_opened_to_the_internet(name, no_network):
    prepared = ray_validate(load(name))

    assert internet_rules_for_port(prepared["provider"], DASHBOARD_PORT) == []
    head_start = " ".join(prepared["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start
    assert "0.0.0.0" not in head_start


@pytest.mark.parametrize(
    "rule",
    [
        {"FromPort": 8265, "ToPort": 8265, "IpProtocol": "tcp", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"FromPort": 8000, "ToPort": 9000, "IpProtocol": "tcp", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    ],
)
def test_an_internet_facing_dashboard_rule_is_detected(rule, no_network):
    config = load("gpu.yaml")
    config["provider"]["security_group"] = {"GroupName": "mer-ray", "IpPermissions": [rule]}

    prepared = ray_validate(config)  # Ray's validator accepts the rule; only this check stops it

    assert internet_rules_for_port(prepared["provider"], DASHBOARD_PORT) == [rule]


def test_a_dashboard_rule_limited_to_a_private_range_is_not_flagged():
    rule = {"FromPort": 8265, "ToPort": 8265, "IpProtocol": "tcp", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
    provider = {"security_group": {"IpPermissions": [rule]}}
    assert internet_rules_for_port(provider, DASHBOARD_PORT) == []


@pytest.mark.parametrize("name", CONFIGS)
def test_paths_handed_to_nodes_are_absolute(name, no_network):
    prepared = ray_validate(load(name))

    assert all(remote.startswith("/") for remote in prepared["file_mounts"])
    offenders = {c: non_absolute_paths(c) for c in all_commands(prepared) if non_absolute_paths(c)}
    for docker in docker_sections(prepared):
        offenders |= {o: non_absolute_paths(o) for o in docker.get("run_options", []) if non_absolute_paths(o)}
    assert offenders == {}


@pytest.mark.parametrize(
    ("command", "relative"),
    [
        ("pip install -e mer-ray", ["mer-ray"]),
        ("cd mer-ray && python scripts/run.py", ["mer-ray", "scripts/run.py"]),
        ("--volume=./data:/mnt/mer-ray", ["./data"]),
        ("python -m mer_ray.loso --features ~/features --out $HOME/runs", ["~/features", "$HOME/runs"]),
        ("curl https://example.org/x.whl -o /tmp/x.whl", []),
    ],
)
def test_path_checker_finds_relative_paths(command, relative):
    assert non_absolute_paths(command) == relative


def shared_mount(config: dict) -> str:
    """The path bound into every container at the same absolute path (`--volume=/X:/X`)."""
    mounts = set()
    for docker in docker_sections(config):
        for option in docker.get("run_options", []):
            match = re.fullmatch(r"--volume=(/[^:]+):(/[^:]+)", option)
            if match and match[1] == match[2]:
                mounts.add(match[1])
    if len(mounts) != 1:
        raise ValueError(f"expected one shared `--volume=/X:/X` mount, found {sorted(mounts)}")
    return mounts.pop()


@pytest.mark.parametrize("name", CONFIGS)
def test_shared_storage_is_mounted_on_the_host_before_docker_starts(name):
    config = load(name)
    mount = shared_mount(config)

    assert any(mount in command for command in config["initialization_commands"])


def test_readme_walk_through_uses_the_shared_mount_and_the_cluster_commands():
    readme = (CLUSTER / "README.md").read_text()
    mount = shared_mount(load("gpu.yaml"))
    assert mount == shared_mount(load("local.yaml"))

    for step in [
        "ray up cluster/gpu.yaml",
        "ray dashboard cluster/gpu.yaml",
        "ray job submit -- python -m mer_ray.loso --search vit",
        "--gpus-per-trial 0.25",
        "ray down cluster/gpu.yaml",
        "ray up cluster/local.yaml",
    ]:
        assert step in readme, step
    data_paths = re.findall(r"--(?:features|out) (\S+)", readme) + re.findall(r"--dataset \w+=(\S+)", readme)
    assert len(data_paths) >= 5
    assert [p for p in data_paths if not p.startswith(mount + "/")] == []


@pytest.mark.parametrize("name", CONFIGS)
def test_every_placeholder_is_explained_in_the_readme(name):
    readme = (CLUSTER / "README.md").read_text()
    placeholders = set(PLACEHOLDER.findall((CLUSTER / name).read_text()))

    assert placeholders, "expected REPLACE_* placeholders for the values only the user knows"
    assert {p for p in placeholders if p not in readme} == set()


def test_local_head_and_worker_addresses_are_placeholders():
    provider = load("local.yaml")["provider"]

    assert PLACEHOLDER.fullmatch(provider["head_ip"])
    assert provider["worker_ips"] and all(PLACEHOLDER.fullmatch(ip) for ip in provider["worker_ips"])


@pytest.mark.parametrize("name", CONFIGS)
def test_python_and_ray_versions_match_the_client(name):
    config = load(name)
    tag = f"{ray.__version__}-py{sys.version_info.major}{sys.version_info.minor}-"
    images = [v for docker in docker_sections(config) for k, v in docker.items() if k.endswith("image")]
    ray_pins = re.findall(r"ray(?:\[[\w,]+\])?==([\w.]+)", " ".join(all_commands(config)))

    assert images and all(image.split(":", 1)[1].startswith(tag) for image in images), images
    assert ray_pins and set(ray_pins) == {ray.__version__}
