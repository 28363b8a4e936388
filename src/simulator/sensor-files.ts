/**
 * Reads the real sensor data sets shipped in `data/` as readings: UCI Occupancy Detection (one office
 * room, 1-minute readings) and UCI Air Quality (one roadside multisensor, hourly, faults coded -200).
 * Timestamps in the files are local times without zone; they are read as UTC.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { ROOT_DIR } from '../config/env';
import type { Reading } from './payloads';

/** A data set the simulator can replay. */
export type SensorDataset = 'uci-occupancy' | 'uci-air-quality';

/** Device id each data set is replayed as. */
export const DATASET_DEVICES: Record<SensorDataset, string> = {
  'uci-occupancy': 'office-room-1',
  'uci-air-quality': 'roadside-1',
};

/** Default files of each data set, in replay order. */
export const DATASET_FILES: Record<SensorDataset, string[]> = {
  'uci-occupancy': ['data/uci-occupancy/datatest.txt', 'data/uci-occupancy/datatraining.txt'],
  'uci-air-quality': ['data/uci-air-quality/AirQuality.csv'],
};

/** A reading without its source (the topic carries it). */
export type DeviceReading = Omit<Reading, 'source'>;

function utc(s: string, file: string, line: number): number {
  const t = Date.parse(`${s.replace(' ', 'T')}Z`);
  if (!Number.isFinite(t)) throw new Error(`${file}:${line}: timestamp ${JSON.stringify(s)} is not YYYY-MM-DD HH:MM:SS`);
  return t;
}

function num(v: string | undefined, file: string, line: number, column: string): number {
  const n = Number(v);
  if (v === undefined || v === '' || !Number.isFinite(n))
    throw new Error(`${file}:${line}: column ${column} is ${JSON.stringify(v)}, not a number`);
  return n;
}

/**
 * Loads one file of a data set, sorted by event time.
 * @throws Error naming the file, line and column of a malformed value.
 */
export function loadSensorFile(dataset: SensorDataset, file: string): DeviceReading[] {
  const abs = path.resolve(ROOT_DIR, file);
  const rows = parse<Record<string, string>>(fs.readFileSync(abs, 'utf8'), { columns: true, skip_empty_lines: true, trim: true });
  const deviceId = DATASET_DEVICES[dataset];
  const out = rows.map((r, i): DeviceReading => {
    const line = i + 2;
    if (dataset === 'uci-occupancy') {
      return {
        deviceId,
        eventTime: utc(r.Date ?? '', file, line),
        temperature: num(r.Temperature, file, line, 'Temperature'),
        humidity: num(r.Humidity, file, line, 'Humidity'),
        light: num(r.Light, file, line, 'Light'),
        co2: num(r.CO2, file, line, 'CO2'),
        humidityRatio: num(r.HumidityRatio, file, line, 'HumidityRatio'),
      };
    }
    return {
      deviceId,
      eventTime: utc(`${r.Date ?? ''} ${r.Time ?? ''}`, file, line),
      // -200 is the device's fault code; it is sent as measured and cleaned by the SQL models.
      temperature: num(r.T, file, line, 'T'),
      humidity: num(r.RH, file, line, 'RH'),
      light: null,
      co2: null,
      humidityRatio: null,
    };
  });
  return out.sort((a, b) => a.eventTime - b.eventTime);
}

/** Loads every default file of a data set, merged and sorted by event time. */
export function loadDataset(dataset: SensorDataset, files = DATASET_FILES[dataset]): DeviceReading[] {
  return files.flatMap((f) => loadSensorFile(dataset, f)).sort((a, b) => a.eventTime - b.eventTime);
}
