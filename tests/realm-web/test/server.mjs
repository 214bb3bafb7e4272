// Starts `expanse serve` (the built binary, EXPANSE_BIN) on a free loopback port over the app in
// ../app, on the test server (MONGODB_URI, each server in its own databases) or the embedded
// store, and stops it.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
export const APP_DIR = path.join(here, "..", "app");
export const APP_ID = "expanse-realm-web";
export const SECRET = "realm-web-tests-secret-0123456789abcdef";
/** The custom-token provider's HS256 signing key: the Secret `realmWebJwtKey` of app/auth/providers.json. */
export const JWT_KEY = "realm-web-custom-jwt-key-0123456789abcdef";

function binary() {
  const bin = process.env.EXPANSE_BIN;
  if (!bin) {
    throw new Error("set EXPANSE_BIN to the expanse binary (cargo test sets it)");
  }
  return bin;
}

/**
 * Starts a server. Options: `env` (extra environment), `prefix` (database prefix: servers
 * given the same prefix share one database), `embedded` (use the embedded store), `appDir`
 * (another app directory than ../app).
 */
export async function startServer({ env = {}, prefix, embedded = false, appDir = APP_DIR } = {}) {
  const args = ["serve", appDir, "--listen", "127.0.0.1:0"];
  const childEnv = {
    ...process.env,
    EXPANSE_JWT_SECRET: SECRET,
    EXPANSE_SECRET_realmWebJwtKey: JWT_KEY,
    EXPANSE_LOG: "warn",
    ...env,
  };
  delete childEnv.MONGODB_URI;
  const uri = process.env.MONGODB_URI;
  const databasePrefix = prefix ?? `rw${randomBytes(4).toString("hex")}_`;
  if (uri && !embedded) {
    args.push("--mongodb", uri, "--database-prefix", databasePrefix);
  }
  const child = spawn(binary(), args, { env: childEnv, stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`expanse serve did not start:\n${log}`)), 20000);
    child.stderr.on("data", (chunk) => {
      log += chunk.toString();
      const m = log.match(/listening on (http:\/\/[0-9.:]+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`expanse serve exited with ${code}:\n${log}`));
    });
  });
  return {
    url,
    prefix: databasePrefix,
    log: () => log,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal)));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** A raw request (for what the client never sends). */
export async function raw(server, method, route, { body, headers = {} } = {}) {
  const response = await fetch(server.url + route, { method, body, headers });
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, headers: response.headers, text, json };
}
