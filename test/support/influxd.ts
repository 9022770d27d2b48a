// The local InfluxDB runner lives with the platform (the demo starts one too); tests import it from here.
export * from '../../platform/local-influxd.ts'
