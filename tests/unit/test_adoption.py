"""Taking callers back after a restart, against a replayed Asterisk over real TCP."""

from __future__ import annotations

from pathlib import Path

from tests.amireplay import AmiReplayServer, load
from tests.apiapp import api_app
from tests.unit.test_ami_connection import until


async def test_a_caller_who_hangs_up_while_being_taken_back_is_not_left_as_a_ghost(
    tmp_path: Path,
):
    async with AmiReplayServer(load("caller_leaves_during_adoption.ami")) as pbx:
        ami_section = {"port": pbx.port, "secret": "s3cret", "ping_interval": 30}
        async with api_app(tmp_path, ami=ami_section) as (_, services, _):
            await services.engine.start()
            await services.ami.start()  # the resync finds caller-1 waiting from before
            try:
                await until(lambda: len(pbx.actions("Getvar")) == 3)
                await services.pipeline.tasks.wait(5)  # the adoption has finished
            finally:
                await services.ami.close()
                await services.engine.stop()
            assert "caller-1" not in services.pipeline.core.waiting
            assert services.live.snapshot()["lines"]["tour"]["waiting"] == 0
