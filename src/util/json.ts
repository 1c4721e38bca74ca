/**
 * Any JSON value: what a key holds, what a request carries, what a history records. It lives in
 * util because everything speaks it (node, client, front door, checker), and the checker may
 * depend on nothing but util and the history format.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
