"""MQTT -> PostgreSQL the way an Airflow DAG's glue script does it: paho-mqtt subscriber, rows buffered in
memory, each batch written with a plain psycopg 3 client (executemany INSERT, then COMMIT).

Delivery as it behaves: paho acknowledges each QoS 1 PUBLISH as soon as its callback returns, before the
row is written (clean session, no manual acks), so a crash loses the buffered batch; no dedupe.

Protocol (bench/peers/python.ts): subscribes, prints ``ready``, then ``committed <n>`` after every commit
and exits once ``--count`` rows are committed.
"""

import argparse
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt
import psycopg


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--topic", required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--dsn", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--batch", type=int, default=5000)
    p.add_argument("--flush-seconds", type=float, default=0.05)
    a = p.parse_args()

    buf: list[tuple] = []
    lock = threading.Lock()
    subscribed = threading.Event()

    def on_connect(client, _userdata, _flags, reason_code, _props):
        if reason_code.is_failure:
            print(f"connect refused: {reason_code}", file=sys.stderr, flush=True)
            sys.exit(1)
        client.subscribe(a.topic, qos=1)

    def on_subscribe(_client, _userdata, _mid, _reason_codes, _props):
        subscribed.set()

    def on_message(_client, _userdata, msg):
        r = json.loads(msg.payload)
        row = (
            a.source,
            r["device_id"],
            r["ts"],
            r.get("temperature"),
            r.get("humidity"),
            r.get("light"),
            r.get("co2"),
            r.get("humidity_ratio"),
        )
        with lock:
            buf.append(row)

    conn = psycopg.connect(a.dsn)
    sql = (
        f"INSERT INTO {a.table} (source, device_id, event_time, temperature, humidity, light, co2, humidity_ratio) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    )
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=a.client_id, clean_session=True, protocol=mqtt.MQTTv311
    )
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(a.host, a.port, keepalive=60)
    client.loop_start()
    if not subscribed.wait(30):
        print("no SUBACK within 30 s", file=sys.stderr, flush=True)
        sys.exit(1)
    print("ready", flush=True)

    committed = 0
    last = time.monotonic()
    while committed < a.count:
        with lock:
            full = len(buf) >= a.batch
        if not full and time.monotonic() - last < a.flush_seconds:
            time.sleep(0.005)
            continue
        with lock:
            batch = buf[: a.batch]
            del buf[: a.batch]
        last = time.monotonic()
        if not batch:
            continue
        with conn.cursor() as cur:
            cur.executemany(sql, batch)
        conn.commit()
        committed += len(batch)
        print(f"committed {committed}", flush=True)
    client.disconnect()
    client.loop_stop()
    conn.close()


if __name__ == "__main__":
    main()
