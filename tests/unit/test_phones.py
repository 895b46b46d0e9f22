"""Agents' own SIP phones: secrets shown once, digests in the directory Asterisk reads.

The directory is checked as Asterisk's PJSIP realtime reads it: rows of the
ps_endpoints, ps_auths and ps_aors tables in the SQLite file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from acd.phones import sip_digest
from tests import database
from tests.apiapp import api_app

ACD = str(Path(sys.executable).parent / "acd")


def directory_rows(path: Path) -> dict[str, list[tuple[str, ...]]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return {
            "endpoints": db.execute(
                "SELECT id, aors, auth, context, transport FROM ps_endpoints ORDER BY id"
            ).fetchall(),
            "auths": db.execute(
                "SELECT id, auth_type, username, realm, password_digest FROM ps_auths ORDER BY id"
            ).fetchall(),
            "aors": db.execute(
                "SELECT id, max_contacts, remove_existing FROM ps_aors ORDER BY id"
            ).fetchall(),
        }


async def login(client: TestClient, job: str, password: str | None = None) -> dict[str, str]:
    resp = await client.post(
        "/api/v1/auth/login", json={"job_number": job, "password": password or f"secret-{job}"}
    )
    assert resp.status == 200, await resp.text()
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}


async def test_a_new_agent_gets_a_phone_of_their_own_whose_secret_is_shown_once(tmp_path):
    phones_file = tmp_path / "asterisk" / "acd-phones.db"
    async with api_app(tmp_path, phones={"directory": str(phones_file)}) as (app, services, _):
        async with TestClient(TestServer(app)) as api:
            admin = await login(api, "9000")
            body = {"name": "Zhao Min", "role": "agent", "password": "long-enough-1"}
            created = await (
                await api.put("/api/v1/admin/users/1005", json=body, headers=admin)
            ).json()
            secret = created["sip_secret"]
            assert created["sip_endpoint"] == "PJSIP/1005" and len(secret) >= 24

            # Asterisk finds the phone: endpoint, auth (a digest, never the secret) and AOR.
            rows = directory_rows(phones_file)
            assert ("1005", "1005", "1005", "agents", "transport-udp") in rows["endpoints"]
            digest = f"md5:{sip_digest('1005', 'acd', secret)}"
            assert ("1005", "digest", "1005", "acd", digest) in rows["auths"]
            assert ("1005", "1", "yes") in rows["aors"]
            assert secret.encode() not in phones_file.read_bytes()
            assert stat.S_IMODE(os.stat(phones_file).st_mode) == 0o600

            # Saving the user again (a new password) keeps the phone and shows no secret.
            again = await (
                await api.put("/api/v1/admin/users/1005", json=body, headers=admin)
            ).json()
            assert "sip_secret" not in again
            assert directory_rows(phones_file)["auths"] == rows["auths"]

            # The new agent takes calls: they are an agent of the centre now.
            agent = await login(api, "1005", "long-enough-1")
            assert (await api.post("/api/v1/agents/1005/login", headers=agent)).status == 200
            assert services.pipeline.core.status("1005").agent.endpoint == "PJSIP/1005"

            # A new secret replaces the old one at once; deleting the user removes the phone.
            renewed = await (await api.post("/api/v1/admin/users/1005/phone", headers=admin)).json()
            assert renewed["sip_secret"] != secret
            (auth,) = [a for a in directory_rows(phones_file)["auths"] if a[0] == "1005"]
            assert auth[4] == f"md5:{sip_digest('1005', 'acd', renewed['sip_secret'])}"
            assert (await api.delete("/api/v1/admin/users/1005", headers=admin)).status == 200
            assert all(e[0] != "1005" for e in directory_rows(phones_file)["endpoints"])
            assert services.pipeline.core.status("1005").state.value == "logged_out"
            # Nobody but an admin issues secrets, and never for an admin.
            agent_1001 = await login(api, "1001")
            forbidden = await api.post("/api/v1/admin/users/1001/phone", headers=agent_1001)
            assert forbidden.status == 403
            for_admin = await api.post("/api/v1/admin/users/9000/phone", headers=admin)
            assert for_admin.status == 404


async def test_at_start_the_directory_holds_exactly_the_stored_phones(tmp_path):
    phones_file = tmp_path / "acd-phones.db"
    with contextlib.closing(sqlite3.connect(phones_file)) as db:  # an old, stale directory
        db.execute("CREATE TABLE ps_endpoints (id TEXT PRIMARY KEY, aors TEXT)")
        db.execute("INSERT INTO ps_endpoints VALUES ('1999', '1999')")
        db.commit()
    async with api_app(tmp_path, phones={"directory": str(phones_file)}) as (_, services, _):
        secret = await services.phones.issue_secret("1001")
    async with api_app(tmp_path, phones={"directory": str(phones_file)}) as _:
        rows = directory_rows(phones_file)
    assert [e[0] for e in rows["endpoints"]] == ["1001"]
    assert rows["auths"][0][4] == f"md5:{sip_digest('1001', 'acd', secret)}"


def acd(tmp_path: Path, *args: str, password: str = "") -> subprocess.CompletedProcess[str]:
    config = tmp_path / "acd.toml"
    config.write_text(
        f'[ami]\nsecret = "x"\n[database]\nurl = "{database.url_for(tmp_path)}"\n'
        f'[phones]\ndirectory = "{tmp_path}/acd-phones.db"\n'
        '[[agents]]\njob_number = "1001"\nname = "Li Na"\nendpoint = "PJSIP/1001"\n'
    )
    return subprocess.run(
        [ACD, *args, "--config", str(config)],
        capture_output=True,
        text=True,
        env={**os.environ, "ACD_USER_PASSWORD": password},
        timeout=60,
    )


async def test_acd_user_and_acd_phone_print_a_phone_secret_once_and_keep_only_its_digest(
    tmp_path,
):
    made = await asyncio.to_thread(
        acd, tmp_path, "user", "1901", "--role", "supervisor", password="lead-password"
    )
    assert made.returncode == 0, made.stderr
    (line,) = [x for x in made.stdout.splitlines() if x.startswith("phone secret for 1901")]
    secret = line.rsplit(": ", 1)[1]
    auths = directory_rows(tmp_path / "acd-phones.db")["auths"]
    assert auths == [("1901", "digest", "1901", "acd", f"md5:{sip_digest('1901', 'acd', secret)}")]
    # An admin takes no calls: no phone.
    admin = await asyncio.to_thread(
        acd, tmp_path, "user", "9000", "--role", "admin", password="admin-password"
    )
    assert "phone secret" not in admin.stdout
    # `acd phone --missing-only`: only phones without a secret (the configured agent 1001).
    missing = await asyncio.to_thread(acd, tmp_path, "phone", "--missing-only")
    assert missing.returncode == 0, missing.stderr
    assert [x.split(" (")[0] for x in missing.stdout.splitlines()] == ["phone secret for 1001"]
    assert (await asyncio.to_thread(acd, tmp_path, "phone", "--missing-only")).stdout == ""
    # `acd phone 1901`: a new one, the old digest gone.
    renewed = await asyncio.to_thread(acd, tmp_path, "phone", "1901")
    new_secret = renewed.stdout.strip().rsplit(": ", 1)[1]
    assert new_secret != secret
    auths = dict((a[0], a[4]) for a in directory_rows(tmp_path / "acd-phones.db")["auths"])
    assert auths["1901"] == f"md5:{sip_digest('1901', 'acd', new_secret)}"
    wrong = await asyncio.to_thread(acd, tmp_path, "phone", "9000")
    assert wrong.returncode == 2 and "not an agent or supervisor: 9000" in wrong.stderr


async def test_the_directory_is_kept_from_other_users_and_a_failed_write_changes_nothing(
    tmp_path,
):
    phones_file = tmp_path / "phones" / "acd-phones.db"
    phones_file.parent.mkdir()
    phones_file.touch(mode=0o644)  # Asterisk opened (created) it first, readable by all
    async with api_app(tmp_path, phones={"directory": str(phones_file)}) as (_, services, _):
        secret = await services.phones.issue_secret("1001")
        assert stat.S_IMODE(os.stat(phones_file).st_mode) == 0o600
        before = directory_rows(phones_file)
        # The directory cannot be written (a folder stands where the file was): the new
        # secret is refused and the old one stays in force, stored and in the directory.
        phones_file.unlink()
        phones_file.mkdir()
        try:
            await services.phones.issue_secret("1001")
        except Exception as exc:
            assert "phone directory" in str(exc)
        else:
            raise AssertionError("a secret was issued that Asterisk never got")
        phones_file.rmdir()
        await services.phones.publish()
        assert directory_rows(phones_file) == before
        assert before["auths"][0][4] == f"md5:{sip_digest('1001', 'acd', secret)}"


async def test_without_a_phone_directory_acd_phone_says_acd_keeps_no_phones(tmp_path):
    config = tmp_path / "acd.toml"
    config.write_text(
        f'[ami]\nsecret = "x"\n[database]\nurl = "{database.url_for(tmp_path)}"\n'
        '[[agents]]\njob_number = "1001"\nname = "Li Na"\nendpoint = "PJSIP/1001"\n'
    )
    done = await asyncio.to_thread(
        subprocess.run,
        [ACD, "phone", "1001", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "acd keeps no phones" in done.stderr
    bad = await asyncio.to_thread(acd, tmp_path, "user", "10x1", password="long-enough")
    assert bad.returncode == 2 and "2-16 digits" in bad.stderr


async def test_the_desktop_gets_a_browser_phone_of_the_users_own_with_a_secret_per_login(
    tmp_path,
):
    phones_file = tmp_path / "acd-phones.db"
    websocket = "ws://127.0.0.1:8088/ws"
    settings = {"directory": str(phones_file), "websocket": websocket}
    async with api_app(tmp_path, phones=settings) as (app, services, _):
        desk_secret = await services.phones.issue_secret("1001")
        async with TestClient(TestServer(app)) as api:
            agent = await login(api, "1001")
            resp = await api.post("/api/v1/me/web-phone", headers=agent)
            assert resp.status == 200, await resp.text()
            assert resp.headers["Cache-Control"] == "no-store"
            first = await resp.json()
            assert first["endpoint"] == "PJSIP/web1001" and first["username"] == "web1001"
            assert first["websocket"] == websocket and first["uri"] == "sip:web1001@127.0.0.1"
            assert len(first["secret"]) >= 24 and first["secret"] != desk_secret

            # Asterisk gets a WebRTC endpoint (DTLS-SRTP, ICE) beside the desk phone's.
            with contextlib.closing(sqlite3.connect(phones_file)) as db:
                endpoints = {
                    row[0]: row[1:]
                    for row in db.execute(
                        "SELECT id, transport, webrtc, dtls_auto_generate_cert, rewrite_contact"
                        " FROM ps_endpoints"
                    )
                }
            assert endpoints == {
                "1001": ("transport-udp", None, None, "yes"),
                "web1001": (None, "yes", "yes", None),
            }
            auths = {a[0]: a[4] for a in directory_rows(phones_file)["auths"]}
            assert auths["web1001"] == f"md5:{sip_digest('web1001', 'acd', first['secret'])}"
            assert auths["1001"] == f"md5:{sip_digest('1001', 'acd', desk_secret)}"

            # The next login's phone gets a new secret; the desk phone keeps its own.
            second = await (await api.post("/api/v1/me/web-phone", headers=agent)).json()
            assert second["secret"] != first["secret"]
            auths = {a[0]: a[4] for a in directory_rows(phones_file)["auths"]}
            assert auths["web1001"] == f"md5:{sip_digest('web1001', 'acd', second['secret'])}"
            assert auths["1001"] == f"md5:{sip_digest('1001', 'acd', desk_secret)}"

            # The agent works at it today without an admin allowing it (it is their own).
            at_web = {"endpoint": "PJSIP/web1001"}
            resp = await api.post("/api/v1/agents/1001/login", json=at_web, headers=agent)
            assert resp.status == 200, await resp.text()
            assert services.pipeline.core.status("1001").agent.endpoint == "PJSIP/web1001"
            # Someone else's browser phone is not theirs.
            other = await login(api, "1002")
            resp = await api.post("/api/v1/agents/1002/login", json=at_web, headers=other)
            assert resp.status == 403

            # Another page of the agent's (the console opened by mistake) logs out: the
            # desktop's phone goes on working.
            elsewhere = await login(api, "1001")
            assert (await api.post("/api/v1/auth/logout", headers=elsewhere)).status == 200
            auths = {a[0]: a[4] for a in directory_rows(phones_file)["auths"]}
            assert auths["web1001"] == f"md5:{sip_digest('web1001', 'acd', second['secret'])}"
            # Only a team lead's console has a phone of its own.
            resp = await api.post("/api/v1/me/web-phone", json={"page": "console"}, headers=agent)
            assert resp.status == 403
            # Logging out of the last session ends the browser phone's secret (the desk
            # phone keeps its own).
            assert (await api.post("/api/v1/auth/logout", headers=agent)).status == 200
            auths = {a[0]: a[4] for a in directory_rows(phones_file)["auths"]}
            assert "web1001" not in auths
            assert auths["1001"] == f"md5:{sip_digest('1001', 'acd', desk_secret)}"

            # A team lead's console has its own phone, beside the desktop's: opening one
            # never takes the other's registration.
            lead = await login(api, "1901")
            desk = await (await api.post("/api/v1/me/web-phone", headers=lead)).json()
            resp = await api.post("/api/v1/me/web-phone", json={"page": "console"}, headers=lead)
            console = await resp.json()
            assert (desk["endpoint"], console["endpoint"]) == ("PJSIP/web1901", "PJSIP/webc1901")
            assert console["username"] == "webc1901" and console["secret"] != desk["secret"]
            auths = {a[0]: a[4] for a in directory_rows(phones_file)["auths"]}
            assert auths["web1901"] == f"md5:{sip_digest('web1901', 'acd', desk['secret'])}"
            assert auths["webc1901"] == f"md5:{sip_digest('webc1901', 'acd', console['secret'])}"
            bad = await api.post("/api/v1/me/web-phone", json={"page": "wallboard"}, headers=lead)
            assert bad.status == 400 and (await bad.json())["details"]
            assert (await api.post("/api/v1/auth/logout", headers=lead)).status == 200
            auths = {a[0] for a in directory_rows(phones_file)["auths"]}
            assert not auths & {"web1901", "webc1901"}

            # A new password (set by an admin) ends the user's sessions and their pages' phones.
            agent = await login(api, "1001")
            assert (await api.post("/api/v1/me/web-phone", headers=agent)).status == 200
            admin = await login(api, "9000")
            reset = {"name": "Li Na", "role": "agent", "password": "a-brand-new-one"}
            resp = await api.put("/api/v1/admin/users/1001", json=reset, headers=admin)
            assert resp.status == 200, await resp.text()
            assert "web1001" not in {a[0] for a in directory_rows(phones_file)["auths"]}
            assert (await api.get("/api/v1/me", headers=agent)).status == 401

            # Admins take no calls; without a token there is no phone.
            assert (await api.post("/api/v1/me/web-phone", headers=admin)).status == 403
            assert (await api.post("/api/v1/me/web-phone")).status == 401

    async with api_app(tmp_path / "no-ws", phones={"directory": str(phones_file)}) as (app, _, _):
        async with TestClient(TestServer(app)) as api:
            resp = await api.post("/api/v1/me/web-phone", headers=await login(api, "1001"))
            assert resp.status == 409
            assert "[phones] websocket" in (await resp.json())["message"]
