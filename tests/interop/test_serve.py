"""`courier serve` as other nodes see it: DCMTK's storescu, findscu, movescu and getscu, and Orthanc
querying and retrieving from it; and a `courier serve` killed with -9 in the middle of a receive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom import dcmread

from tests.net.datasets import make_ct, write_ct
from tests.peers import (
    dcmtk_env,
    free_port,
    require_binary,
    run_tool,
    start_orthanc,
    start_storescp,
    wait_for_port,
)

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

STUDY = "1.2.826.0.1.3680043.8.498.300"


@dataclass
class Serve:
    proc: subprocess.Popen[bytes]
    port: int
    archive: Path
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def config_env(workdir: Path) -> dict[str, str]:
    """A private configuration folder: the test must not read or change the user's settings."""
    return {**os.environ, "COURIER_CONFIG_DIR": str(workdir / "cfg")}


def start_serve(workdir: Path, *extra: str, archive: Path | None = None) -> Serve:
    port = free_port()
    archive = archive or workdir / "archive"
    log = workdir / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli.main", "serve", str(port), "--out", str(archive), "-v", *extra],
            stdout=out, stderr=subprocess.STDOUT, env=config_env(workdir),
        )  # fmt: skip
    wait_for_port(port, proc)
    return Serve(proc, port, archive, log)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    running = start_serve(tmp_path)
    yield running
    assert running.stop() == 0, running.output()


def instances(folder: Path, count: int = 3) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [write_ct(folder / f"ct{n}.dcm", uid=f"{STUDY}.1.{n}", study_uid=STUDY, patient_id="SERVE1")
            for n in range(count)]  # fmt: skip


def storescu_into(serve: Serve, files: list[Path]) -> None:
    storescu = require_binary("storescu", package="dcmtk")
    result = run_tool([storescu, "-aec", "COURIER", "127.0.0.1", str(serve.port), *map(str, files)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_dcmtk_storescu_stores_into_the_archive(serve: Serve, tmp_path: Path) -> None:
    storescu_into(serve, instances(tmp_path / "in"))
    stored = sorted(serve.archive.rglob("*.dcm"))
    assert sorted(dcmread(p).SOPInstanceUID for p in stored) == [f"{STUDY}.1.{n}" for n in range(3)]


def test_dcmtk_findscu_finds_studies_and_series(serve: Serve, tmp_path: Path) -> None:
    storescu_into(serve, instances(tmp_path / "in"))
    findscu = require_binary("findscu", package="dcmtk")
    out = tmp_path / "found"
    out.mkdir()
    result = run_tool(
        [findscu, "-S", "-aec", "COURIER", "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientID=SERVE*",
         "-k", "StudyInstanceUID", "-X", "-od", str(out), "127.0.0.1", str(serve.port)]
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    answers = [dcmread(p) for p in out.iterdir()]
    assert [a.StudyInstanceUID for a in answers] == [STUDY]
    result = run_tool(
        [findscu, "-P", "-aec", "COURIER", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=SERVE1",
         "-k", "PatientName", "127.0.0.1", str(serve.port)]
    )  # fmt: skip
    assert result.returncode == 0
    assert "DOE^JANE" in result.stdout + result.stderr


def test_dcmtk_movescu_moves_a_study_to_a_dest_given_on_the_command_line(tmp_path: Path) -> None:
    storescp = start_storescp(tmp_path / "scp", aet="VIEWER")
    running = start_serve(tmp_path, "--dest", f"VIEWER=127.0.0.1:{storescp.port}")
    try:
        storescu_into(running, instances(tmp_path / "in"))
        movescu = require_binary("movescu", package="dcmtk")
        result = run_tool(
            [movescu, "-S", "-aec", "COURIER", "-aem", "VIEWER", "-k", "QueryRetrieveLevel=STUDY",
             "-k", f"StudyInstanceUID={STUDY}", "127.0.0.1", str(running.port)]
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        received = sorted(dcmread(p).SOPInstanceUID for p in storescp.extra["out"].iterdir())
        assert received == [f"{STUDY}.1.{n}" for n in range(3)]
        unknown = run_tool(
            [movescu, "-S", "-aec", "COURIER", "-aem", "NOWHERE", "-k", "QueryRetrieveLevel=STUDY",
             "-k", f"StudyInstanceUID={STUDY}", "127.0.0.1", str(running.port)]
        )  # fmt: skip
        assert unknown.returncode != 0
        assert "MoveDestinationUnknown" in unknown.stdout + unknown.stderr
    finally:
        storescp.stop()
        running.stop()


def test_dcmtk_getscu_gets_a_series(serve: Serve, tmp_path: Path) -> None:
    storescu_into(serve, instances(tmp_path / "in"))
    getscu = require_binary("getscu", package="dcmtk")
    out = tmp_path / "got"
    out.mkdir()
    result = run_tool(
        [getscu, "-S", "-aec", "COURIER", "-k", "QueryRetrieveLevel=SERIES",
         "-k", f"StudyInstanceUID={STUDY}", "-k", f"SeriesInstanceUID={STUDY}.1",
         "-od", str(out), "127.0.0.1", str(serve.port)]
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(dcmread(p).SOPInstanceUID for p in out.iterdir()) == [f"{STUDY}.1.{n}" for n in range(3)]


def test_demo_mode_with_an_allow_list_and_its_own_ae_title(tmp_path: Path) -> None:
    running = start_serve(tmp_path, "--demo", "--aet", "WORKSTN", "--allow", "FINDER")
    try:
        findscu = require_binary("findscu", package="dcmtk")
        query = ["-P", "-aec", "WORKSTN", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=DEMO*",
                 "-k", "PatientName", "127.0.0.1", str(running.port)]  # fmt: skip
        result = run_tool([findscu, "-aet", "FINDER", *query])
        assert result.returncode == 0, result.stdout + result.stderr
        assert "DEMO0001" in result.stdout + result.stderr  # the demo archive was seeded and is queryable
        refused = run_tool([findscu, "-aet", "STRANGER", *query])
        assert refused.returncode != 0
        assert "DEMO0001" not in refused.stdout + refused.stderr
        assert "rejected" in running.output()  # the refusal is logged for the technologist
    finally:
        assert running.stop() == 0, running.output()


def test_orthanc_queries_and_retrieves_from_courier_serve(tmp_path: Path) -> None:
    serve_port = free_port()
    orthanc = start_orthanc(
        tmp_path / "orthanc", modalities={"courier": ("COURIER", "127.0.0.1", serve_port)}
    )
    archive = tmp_path / "archive"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli.main", "serve", str(serve_port), "--out", str(archive),
             "--dest", f"ORTHANC=127.0.0.1:{orthanc.port}"],
            stdout=out, stderr=subprocess.STDOUT, env=config_env(tmp_path),
        )  # fmt: skip
    running = Serve(proc, serve_port, archive, log)
    try:
        wait_for_port(serve_port, proc)
        storescu_into(running, instances(tmp_path / "in"))
        assert orthanc.rest("/modalities/courier/echo", {}, method="POST") == {}
        query = orthanc.rest(
            "/modalities/courier/query", {"Level": "Study", "Query": {"PatientID": "SERVE*"}}, method="POST"
        )
        answers = orthanc.rest(f"/queries/{query['ID']}/answers?expand")  # type: ignore[index]
        assert [a["0020,000d"]["Value"] for a in answers] == [STUDY]  # type: ignore[index,union-attr]
        orthanc.rest(f"/queries/{query['ID']}/retrieve", {"TargetAet": "ORTHANC", "Synchronous": True},
                     method="POST")  # type: ignore[index]  # fmt: skip
        deadline = time.monotonic() + 30
        while len(orthanc.rest("/instances")) < 3 and time.monotonic() < deadline:  # type: ignore[arg-type]
            time.sleep(0.1)  # polling Orthanc's REST API for the moved instances
        assert len(orthanc.rest("/instances")) == 3  # type: ignore[arg-type]
    finally:
        running.stop()
        orthanc.stop()


def test_kill_9_during_a_receive_leaves_no_half_instance_after_restart(tmp_path: Path) -> None:
    running = start_serve(tmp_path)
    big = tmp_path / "big.dcm"
    ct = make_ct(rows=4096, uid=f"{STUDY}.9.1")  # 32 MB of pixels: long enough to be killed mid-way
    ct.save_as(big, enforce_file_format=True)
    storescu = require_binary("storescu", package="dcmtk")
    sender = subprocess.Popen(
        [storescu, "-aec", "COURIER", "-pdu", "16384", "127.0.0.1", str(running.port), str(big)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dcmtk_env(),
    )  # fmt: skip
    try:
        incoming = running.archive / ".incoming"
        deadline = time.monotonic() + 30
        while not any(p.stat().st_size > 1_000_000 for p in incoming.glob("*.part")):
            assert time.monotonic() < deadline, "the receive never started"
            time.sleep(0.01)  # polling the archive's incoming folder
        running.proc.kill()  # kill -9 in the middle of the receive
        running.proc.wait()
    finally:
        sender.kill()
        sender.wait()
    assert any(incoming.glob("*.part"))  # the half-written file is there...
    restarted = start_serve(tmp_path, archive=running.archive)
    try:
        assert not any(incoming.glob("*.part"))  # ...and the start-up check removed it
        assert not list(running.archive.rglob("*.dcm"))  # no instance was ever indexed or kept
        assert "partial files removed" in restarted.output() or "repaired" in restarted.output()
        storescu_into(restarted, instances(tmp_path / "in", 1))  # and the node serves again
    finally:
        assert restarted.stop() == 0


def test_a_data_set_over_the_size_limit_is_refused_and_not_kept(tmp_path: Path) -> None:
    running = start_serve(tmp_path, "--max-dataset-size", "1")  # 1 MB
    try:
        big = write_ct(tmp_path / "big.dcm", uid=f"{STUDY}.8.1", rows=1024)  # 2 MB of pixels
        small = write_ct(tmp_path / "small.dcm", uid=f"{STUDY}.8.2")
        storescu = require_binary("storescu", package="dcmtk")
        refused = run_tool([storescu, "-aec", "COURIER", "127.0.0.1", str(running.port), str(big)])
        assert refused.returncode != 0 or "Abort" in refused.stdout + refused.stderr
        storescu_into(running, [small])  # the node goes on serving
        stored = sorted(dcmread(p).SOPInstanceUID for p in running.archive.rglob("*.dcm"))
        assert stored == [f"{STUDY}.8.2"]
        assert not list((running.archive / ".incoming").glob("*.part"))
    finally:
        running.stop()


def test_an_allowed_ae_title_bound_to_another_address_is_refused(tmp_path: Path) -> None:
    running = start_serve(tmp_path, "--allow", "FINDER@192.0.2.9", "--allow", "LOCAL@127.0.0.1")
    try:
        echoscu = require_binary("echoscu", package="dcmtk")
        bound_elsewhere = run_tool(
            [echoscu, "-aet", "FINDER", "-aec", "COURIER", "127.0.0.1", str(running.port)]
        )
        assert bound_elsewhere.returncode != 0  # right title, wrong address
        here = run_tool([echoscu, "-aet", "LOCAL", "-aec", "COURIER", "127.0.0.1", str(running.port)])
        assert here.returncode == 0, here.stdout + here.stderr
    finally:
        running.stop()
