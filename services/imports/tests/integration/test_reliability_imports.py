"""RELIABILITY import promises whose mechanism had no direct test (docs/reliability-tests.md, issue 9).

- I3/I6: the Celery settings that make a killed worker's step come back (acks late, requeue on a
  lost worker, prefetch 1) and keep every task message far below RabbitMQ's consumer_timeout;
  every pipeline step handles at most one chunk, however long the file.
- I8: undo is refused once the import completed more than 7 days ago.
- I2: the error file names each rejected row's 1-based *source line* (not only its row number),
  and imported + merged + skipped + failed == data rows.
"""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
import sqlalchemy as sa

from crm_shared.errors import Conflict
from imports import jobs, pipeline, worker
from imports.models import Import, ImportRow
from services.imports.tests.integration.test_pipeline import MARKETING, FakeContacts, run, unique, upload

RABBITMQ_CONSUMER_TIMEOUT_S = 30 * 60   # RabbitMQ's default consumer_timeout (1,800,000 ms)


@pytest.fixture()
def contacts():
    return FakeContacts()


def test_celery_redelivers_a_killed_workers_step_and_no_task_outlives_half_the_consumer_timeout():
    conf = worker.app.conf
    assert conf.task_acks_late is True                 # acked after the step, not before it runs
    assert conf.task_reject_on_worker_lost is True     # a SIGKILLed child's message is requeued, not acked
    assert conf.worker_prefetch_multiplier == 1        # a killed worker holds one step, not a backlog
    assert conf.task_soft_time_limit < conf.task_time_limit <= RABBITMQ_CONSUMER_TIMEOUT_S / 2


def test_every_step_handles_at_most_one_chunk_however_long_the_file(db_session, contacts, monkeypatch):
    chunk, rows = 10, 47
    for name in ("VALIDATE_CHUNK", "MATCH_CHUNK", "COMMIT_CHUNK"):
        monkeypatch.setattr(pipeline, name, chunk)
    batch_sizes: list[int] = []
    import_batch = contacts.import_batch

    def counting(import_id, batch):
        batch_sizes.append(len(batch))
        return import_batch(import_id, batch)

    contacts.import_batch = counting
    u = unique("chunk")
    text = "Name,Email\n" + "\n".join(f"Chunk Person{chr(97 + i % 26)}{chr(97 + i // 26)},c{i}-{u}@x.com"
                                      for i in range(rows))
    import_id = upload(db_session, text)

    def stored_rows() -> int:
        return db_session.execute(sa.select(sa.func.count()).select_from(ImportRow)
                                  .where(ImportRow.import_id == import_id)).scalar_one()

    validate_steps, before = 0, 0
    for _ in range(200):
        phase = db_session.get(Import, import_id).phase
        state = pipeline.advance(db_session, import_id, None, contacts)
        if phase == "validate":
            validate_steps += 1
            after = stored_rows()
            assert after - before <= chunk, (before, after)   # one checkpoint per chunk
            before = after
        if state != "continue":
            break
    assert validate_steps == -(-rows // chunk)
    jobs.commit(db_session, MARKETING, import_id, "skip")
    db_session.commit()
    assert run(db_session, import_id, contacts) == "idle"
    assert batch_sizes and max(batch_sizes) <= chunk and sum(batch_sizes) == rows
    assert db_session.get(Import, import_id).summary["imported"] == rows


def _completed_import(db_session, contacts) -> str:
    import_id = upload(db_session, f"Name,Email\nUndo Person,{unique('undo')}@x.com\n")
    run(db_session, import_id, contacts)
    jobs.commit(db_session, MARKETING, import_id, "skip")
    db_session.commit()
    assert run(db_session, import_id, contacts) == "idle"
    assert db_session.get(Import, import_id).status == "completed"
    return import_id


def test_undo_is_allowed_for_seven_days_and_refused_after(db_session, contacts):
    import_id = _completed_import(db_session, contacts)
    job = db_session.get(Import, import_id)
    job.completed_at = pipeline.now() - timedelta(days=7) + timedelta(minutes=5)
    db_session.commit()
    assert jobs.check_undo(db_session, MARKETING, import_id).id == import_id
    job.completed_at = pipeline.now() - timedelta(days=7, minutes=5)
    db_session.commit()
    with pytest.raises(Conflict) as refused:
        jobs.check_undo(db_session, MARKETING, import_id)
    assert "7 days" in str(refused.value)


def test_the_error_file_names_the_source_line_and_the_counts_add_up(db_session, contacts):
    u = unique("line")
    text = ("Name,Email,Notes\n"                                     # line 1
            f"Multi Line,ml-{u}@x.com,\"first line\nsecond line\"\n"  # row 1: lines 2-3
            "Bad Email,not-an-email,\n"                               # row 2: line 4
            f"Good Person,good-{u}@x.com,\n"                          # row 3: line 5
            f",noname-{u}@x.com,\"a\nb\nc\"\n"                        # row 4: lines 6-8
            f"Last Person,last-{u}@x.com,\n")                         # row 5: line 9
    import_id = upload(db_session, text)
    run(db_session, import_id, contacts)
    jobs.commit(db_session, MARKETING, import_id, "skip")
    db_session.commit()
    assert run(db_session, import_id, contacts) == "idle"
    summary = db_session.get(Import, import_id).summary
    assert summary["total"] == 5 and summary["failed"] == 2
    assert summary["imported"] + summary["merged"] + summary["skipped"] + summary["failed"] == summary["total"]
    report = list(csv.DictReader(io.StringIO(jobs.errors_csv(db_session, MARKETING, import_id))))
    by_row = {int(r["row"]): r for r in report}
    assert set(by_row) == {2, 4}
    assert (by_row[2]["line"], by_row[2]["field"]) == ("4", "email")
    assert (by_row[4]["line"], by_row[4]["field"]) == ("6", "name")
    assert all(r["message"] for r in report)
