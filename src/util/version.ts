/** The version the servers report (/status, /openapi.json); package.json's "version". */
export const KV_LAB_VERSION = '0.1.0';
