"""The code's shape that the architecture promises (docs/architecture.md)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from panoramisk.message import Message

from acd.ami.calls import WAIT_CONTEXT
from acd.ami.errors import AmiError
from acd.ami.translate import SUBSCRIPTIONS, translate
from acd.centre.tracking import PUT_THROUGH
from acd.core.progress import AgentAnswered, CallerGreeted, PositionAnnounced, RingFailed
from acd.core.queueing import Refused
from acd.http.errors import domain_error
from acd.settings import Settings
from acd.wiring import agents_from_settings

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = [ROOT / "acd", ROOT / "ivr", ROOT / "recording"]


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_the_core_imports_nothing_outside_the_standard_library():
    foreign = {
        f"{path.name}: {name}"
        for path in (ROOT / "acd" / "core").glob("*.py")
        for name in imported_modules(path)
        if name.split(".")[0] not in sys.stdlib_module_names and not name.startswith("acd.core")
    }
    assert not foreign


def test_no_module_of_the_product_is_over_400_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for folder in PRODUCT
        for path in folder.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not long


def test_an_unlisted_error_subclass_maps_like_its_base():
    class TooLate(Refused):
        pass

    class LinkFlapped(AmiError):
        pass

    assert domain_error(TooLate("x")) == (409, "refused")
    assert domain_error(LinkFlapped("x")) == (503, "pbx_unavailable")


def test_the_subscription_table_covers_the_dialplans_events_and_failed_rings():
    def event(**fields: str) -> Message:
        return Message({"Uniqueid": "u1", **fields})

    assert translate(event(Event="UserEvent", UserEvent="AcdAgentAnswered", Leg="l1")) == (
        AgentAnswered("u1", "l1")
    )
    assert translate(
        event(Event="UserEvent", UserEvent="AcdGreeted", Agent="1001", Status="OK")
    ) == (CallerGreeted("u1", "1001", "OK"))
    assert translate(event(Event="UserEvent", UserEvent="AcdAnnounced", Position="2")) == (
        PositionAnnounced("u1", "2", "")
    )
    assert translate(event(Event="OriginateResponse", Response="Failure")) == RingFailed("u1")
    assert translate(event(Event="OriginateResponse", Response="Success")) is None
    assert translate(event(Event="UserEvent", UserEvent="SomethingElse")) is None
    assert "UserEvent:AcdAgentAnswered" in SUBSCRIPTIONS


def test_every_user_event_the_dialplan_raises_for_the_engine_is_subscribed():
    dialplan = (ROOT / "asterisk-conf" / "extensions.conf").read_text(encoding="utf-8")
    raised = {
        line.split("UserEvent(", 1)[1].split(",", 1)[0]
        for line in dialplan.splitlines()
        if "UserEvent(Acd" in line and not line.lstrip().startswith(";")
    }
    # For operators watching AMI: the engine is down (AcdEngineUnreachable), or the
    # dialplan retries a bridge by itself (AcdBridgeRetry).
    for_operators = {"AcdEngineUnreachable", "AcdBridgeRetry"}
    assert {f"UserEvent:{name}" for name in raised - for_operators} <= set(SUBSCRIPTIONS)


def test_the_put_through_steps_acd_knows_are_the_dialplans():
    """A caller who hangs up in one of them counts as answered (tracking.PUT_THROUGH):
    each is an extension of the waiting context, and there is no "h" there to hide it."""
    dialplan = (ROOT / "asterisk-conf" / "extensions.conf").read_text(encoding="utf-8")
    wait = dialplan.split(f"[{WAIT_CONTEXT}]", 1)[1].split("\n[", 1)[0]
    extens = {
        line.split("=>", 1)[1].split(",", 1)[0].strip()
        for line in wait.splitlines()
        if line.startswith("exten")
    }
    assert PUT_THROUGH <= extens, PUT_THROUGH - extens
    assert "h" not in extens and "s" not in PUT_THROUGH


def test_a_configured_team_reaches_the_agent():
    settings = Settings.model_validate(
        {
            "ami": {"secret": "not-used-without-asterisk"},
            "agents": [
                {"job_number": "1001", "name": "Li Na", "endpoint": "PJSIP/1001", "team": "east"}
            ],
        }
    )
    (agent,) = agents_from_settings(settings.agents)
    assert agent.team == "east"


def test_the_compose_file_lets_acd_delete_old_recordings():
    import yaml

    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text(encoding="utf-8"))
    mounts = [m for m in compose["services"]["acd"]["volumes"] if "/recordings" in m]
    assert mounts and all(not m.endswith(":ro") for m in mounts), mounts
