"""Configuration: TOML plus ACD_* overrides; every error names the key."""

from pathlib import Path

import pytest

from acd.settings import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "acd.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_loopback_and_sqlite(tmp_path):
    s = load_settings(write(tmp_path, '[ami]\nsecret = "x"\n'), environ={})
    assert (s.ami.host, s.fastagi.host, s.http.host) == ("127.0.0.1",) * 3
    assert s.database.url.startswith("sqlite+aiosqlite://")


def test_environment_overrides_the_file(tmp_path):
    env = {"ACD_AMI__SECRET": "from-env", "ACD_HTTP__PORT": "9000", "OTHER": "x"}
    s = load_settings(write(tmp_path, '[ami]\nsecret = "file"\n'), environ=env)
    assert s.ami.secret.get_secret_value() == "from-env"
    assert s.http.port == 9000


def test_secret_file_is_read_and_the_secret_is_never_printed(tmp_path):
    (tmp_path / "ami-secret").write_text("hunter2\n")
    s = load_settings(
        write(tmp_path, f'[ami]\nsecret_file = "{tmp_path / "ami-secret"}"\n'), environ={}
    )
    assert s.ami.secret.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(s)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[ami]\nsecret = "x"\nport = 70000\n',
            "ami.port: Input should be less than or equal to 65535",
        ),
        ('[ami]\nsecret = "x"\nprot = 5038\n', "ami.prot: unknown key"),
        ("[http]\nport = 8080\n", "ami: required but missing"),
        ("[ami]\nport = 5038\n", "no AMI secret"),
        (
            '[ami]\nsecret = "x"\n[database]\nurl = "mysql://x"\n',
            "database.url: unsupported database URL",
        ),
        ('[ami\nsecret = "x"\n', "not valid TOML"),
        (
            '[ami]\nsecret_file = "/nonexistent/secret"\n',
            "secret_file /nonexistent/secret: No such file",
        ),
    ],
)
def test_bad_config_names_the_key_and_reason(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load_settings(write(tmp_path, text), environ={})


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_announcements_are_off_or_long_enough(tmp_path):
    text = '[ami]\nsecret = "x"\n[acd]\nannounce_every = 4\n'
    with pytest.raises(ConfigError, match=r"acd\.announce_every: must be 0 \(off\) or at least 10"):
        load_settings(write(tmp_path, text), environ={})
    text = '[ami]\nsecret = "x"\n[acd]\nannounce_every = 0\n'
    assert load_settings(write(tmp_path, text), environ={}).acd.announce_every == 0


def test_agents_are_checked(tmp_path):
    base = '[ami]\nsecret = "x"\n'
    agent = '[[agents]]\njob_number = "1001"\nname = "A"\nendpoint = "PJSIP/1001"\n'
    with pytest.raises(ConfigError, match="job number 1001 is used twice"):
        load_settings(write(tmp_path, base + agent + agent), environ={})
    bad = agent.replace('"1001"', '"10a1"', 1)
    with pytest.raises(ConfigError, match=r"agents\.0\.job_number: String should match"):
        load_settings(write(tmp_path, base + bad), environ={})
    skilled = agent + "skills = { tour = 11 }\n"
    with pytest.raises(
        ConfigError, match=r"agents.0.skills.tour: Input should be less than or equal to 10"
    ):
        load_settings(write(tmp_path, base + skilled), environ={})


def test_agent_skills_must_name_lines_of_the_ivr_tree(tmp_path):
    from acd.app import load_call_flow

    text = '[ami]\nsecret = "x"\n[[agents]]\njob_number = "1001"\nname = "A"\n'
    text += 'endpoint = "PJSIP/1001"\n'
    settings = load_settings(write(tmp_path, text + "skills = { skiing = 3 }\n"), environ={})
    with pytest.raises(ConfigError, match=r"agents\.0\.skills: 'skiing' is not a line"):
        load_call_flow(settings)


def test_a_standby_pair_needs_postgresql_and_a_poll_shorter_than_the_lease(tmp_path):
    with pytest.raises(ConfigError, match=r"standby\.enabled needs a database both engines share"):
        load_settings(write(tmp_path, '[ami]\nsecret = "x"\n[standby]\nenabled = true\n'), {})
    pg = '[database]\nurl = "postgresql+asyncpg://acd@db/acd"\n'
    text = f'[ami]\nsecret = "x"\n{pg}[standby]\nenabled = true\nlease = 2\npoll = 2\n'
    with pytest.raises(ConfigError, match=r"poll \(2 s\) must be below lease \(2 s\)"):
        load_settings(write(tmp_path, text), {})
    text = f'[ami]\nsecret = "x"\n{pg}[standby]\nenabled = true\n'
    s = load_settings(write(tmp_path, text), {})
    assert (s.standby.lease, s.standby.poll) == (3.0, 0.5)


def test_values_stored_in_bounded_columns_are_refused_by_name_when_too_long(tmp_path):
    agent = '[[agents]]\njob_number = "1001"\nendpoint = "PJSIP/1001"\nname = "' + "n" * 101 + '"\n'
    with pytest.raises(ConfigError, match=r"agents\.0\.name: String should have at most 100"):
        load_settings(write(tmp_path, '[ami]\nsecret = "x"\n' + agent), {})
    folder = "/srv/" + "r" * 320
    with pytest.raises(ConfigError, match=r"recording\.dir: at most 320 characters"):
        load_settings(write(tmp_path, f'[ami]\nsecret = "x"\n[recording]\ndir = "{folder}"\n'), {})


def test_a_standby_engines_addresses_are_scheme_host_and_port(tmp_path):
    pg = '[database]\nurl = "postgresql+asyncpg://acd@db/acd"\n'
    text = f'[ami]\nsecret = "x"\n{pg}[standby]\nenabled = true\n'
    bad = (
        text
        + 'address = "http://a:8080/desk"\npeers = ["http://b:8080/", "ftp://c", "http://d:99999"]\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(write(tmp_path, bad), {})
    assert "standby.address: 'http://a:8080/desk' is not an engine's address" in str(raised.value)
    assert "standby.peers.1: 'ftp://c' is not an engine's address" in str(raised.value)
    assert "standby.peers.2: 'http://d:99999' is not an engine's address" in str(raised.value)
    good = text + 'address = "https://a.example:8443"\npeers = ["http://10.0.0.2:8080/"]\n'
    s = load_settings(write(tmp_path, good), {})
    assert (s.standby.address, s.standby.peers) == (
        "https://a.example:8443",
        ["http://10.0.0.2:8080"],
    )
