"""Kafka -> PostgreSQL the way an Airflow DAG's glue script does it: confluent-kafka consumer, each polled
batch written with a plain psycopg 3 client (executemany INSERT, then COMMIT), then the offsets committed.

Delivery as it behaves: at-least-once; offsets are committed synchronously after the rows' COMMIT, in a
separate step, so a crash between the two re-delivers the batch and the rows are inserted twice (no
dedupe: the bench table has the same primary key as ours, so such a batch would fail instead).

Protocol (bench/peers/python.ts): connects to PostgreSQL, prints ``ready``, waits for a line ``go`` on
stdin, subscribes (group join included in the timing, as for the other consumers), prints
``committed <n>`` after every commit and exits once ``--count`` rows are committed.
"""

import argparse
import json
import sys

import psycopg
from confluent_kafka import Consumer


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--brokers", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--dsn", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--batch", type=int, default=10000)
    a = p.parse_args()

    conn = psycopg.connect(a.dsn)
    sql = (
        f"INSERT INTO {a.table} (source, device_id, interface, event_time, model, interface_status, cpu_usage, memory_usage) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    )
    consumer = Consumer(
        {
            "bootstrap.servers": a.brokers,
            "group.id": a.group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    print("ready", flush=True)
    sys.stdin.readline()
    consumer.subscribe([a.topic])

    committed = 0
    while committed < a.count:
        msgs = consumer.consume(num_messages=a.batch, timeout=0.5)
        rows = []
        for m in msgs:
            if m.error():
                print(f"consume error: {m.error()}", file=sys.stderr, flush=True)
                continue
            r = json.loads(m.value())
            rows.append(
                (
                    a.source,
                    r["deviceid"],
                    r["interface"],
                    r["event_time"],
                    r["model"],
                    r["interfacestatus"],
                    r["cpuusage"],
                    r["memoryusage"],
                )
            )
        if not rows:
            continue
        with conn.cursor() as cur:
            cur.executemany(sql, rows)
        conn.commit()
        consumer.commit(asynchronous=False)
        committed += len(rows)
        print(f"committed {committed}", flush=True)
    consumer.close()
    conn.close()


if __name__ == "__main__":
    main()
