"""The production descriptions agree with each other: Procfile, docker-compose.yml, Dockerfile."""

from __future__ import annotations

import shlex

import yaml

from tests import processes


def _compose() -> dict:
    return yaml.safe_load((processes.ROOT / "docker-compose.yml").read_text())




def test_compose_runs_postgres_redis_and_every_procfile_process():
    services = _compose()["services"]
    assert {"postgres", "redis", "migrate", "nginx"} | set(processes.procfile()) <= set(services)


def test_compose_processes_run_the_same_programs_as_the_procfile():
    services = _compose()["services"]
    for name, command in processes.procfile().items():
        procfile_program = shlex.split(command)[:4]
        compose_program = services[name]["command"][:4]
        # Same program and the same app/module; ports and concurrency are deployment knobs.
        assert compose_program[0] == procfile_program[0], name
        assert compose_program[1] == procfile_program[1], name


def test_every_app_service_uses_postgres_and_redis_and_waits_for_migrations():
    services = _compose()["services"]
    for name in processes.procfile():
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"].startswith("postgres://"), name
        assert environment["REDIS_URL"].startswith("redis://"), name
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name


def test_compose_depends_only_on_declared_services_and_volumes():
    compose = _compose()
    services = compose["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in compose["volumes"], f"{name} uses undeclared volume {source}"
            else:
                assert (processes.ROOT / source).exists(), f"{name} mounts missing {source}"
    assert (processes.ROOT / "Dockerfile").exists()
