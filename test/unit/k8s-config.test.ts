/** src/k8s/config.ts: in-cluster credentials and kubeconfig variants; every error names its field or file. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { K8sConfigError, loadClusterConfig } from "../../src/k8s/config";

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "tether-k8s-config-"));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const p = path.join(dir, name);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, text);
  return p;
}

function throwsField(fn: () => unknown, field: RegExp, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof K8sConfigError, `not a K8sConfigError: ${String(e)}`);
    assert.match(e.field, field);
    if (message) assert.match(e.message, message);
    return true;
  });
}

describe("in-cluster", () => {
  const sa = (): string => {
    const d = path.join(dir, "sa");
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, "token"), "tok\n");
    fs.writeFileSync(path.join(d, "ca.crt"), "CA PEM");
    return d;
  };

  test("server from KUBERNETES_SERVICE_HOST/_PORT, token file named (not read into the config), CA read", () => {
    const d = sa();
    const cfg = loadClusterConfig({ env: { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" }, serviceAccountDir: d });
    assert.equal(cfg.server, "https://10.96.0.1:443");
    assert.equal(cfg.tokenFile, path.join(d, "token"));
    assert.equal(cfg.token, undefined);
    assert.equal(cfg.ca?.toString(), "CA PEM");
  });

  test("an IPv6 service host is bracketed", () => {
    const cfg = loadClusterConfig({ env: { KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "6443" }, serviceAccountDir: sa() });
    assert.equal(cfg.server, "https://[fd00::1]:6443");
    assert.equal(new URL(cfg.server).hostname, "[fd00::1]");
  });

  test("missing or bad environment names the variable", () => {
    const d = sa();
    throwsField(() => loadClusterConfig({ env: { KUBERNETES_SERVICE_PORT: "443" }, serviceAccountDir: d }), /^KUBERNETES_SERVICE_HOST$/, /--kubeconfig/);
    throwsField(() => loadClusterConfig({ env: { KUBERNETES_SERVICE_HOST: "h" }, serviceAccountDir: d }), /^KUBERNETES_SERVICE_PORT$/);
    throwsField(() => loadClusterConfig({ env: { KUBERNETES_SERVICE_HOST: "h", KUBERNETES_SERVICE_PORT: "https" }, serviceAccountDir: d }), /^KUBERNETES_SERVICE_PORT$/, /not a port/);
    throwsField(() => loadClusterConfig({ env: { KUBERNETES_SERVICE_HOST: "h", KUBERNETES_SERVICE_PORT: "70000" }, serviceAccountDir: d }), /^KUBERNETES_SERVICE_PORT$/);
  });

  test("missing token or ca.crt names the file", () => {
    const d = path.join(dir, "sa-empty");
    fs.mkdirSync(d, { recursive: true });
    const env = { KUBERNETES_SERVICE_HOST: "h", KUBERNETES_SERVICE_PORT: "443" };
    throwsField(() => loadClusterConfig({ env, serviceAccountDir: d }), /token/, new RegExp(`${d}/token: .*ENOENT`));
    fs.writeFileSync(path.join(d, "token"), "t");
    throwsField(() => loadClusterConfig({ env, serviceAccountDir: d }), /ca\.crt/, /ENOENT/);
  });
});

interface KcOpts {
  cluster?: string;
  user?: string;
  current?: string | null;
}

function kubeconfig(o: KcOpts = {}): string {
  const lines = ["apiVersion: v1", "kind: Config"];
  if (o.current !== null) lines.push(`current-context: ${o.current ?? "ctx"}`);
  lines.push("clusters:", "- name: c1", "  cluster:", ...(o.cluster ?? "    server: https://api.example:6443").split("\n"));
  lines.push("users:", "- name: u1", "  user:", ...(o.user ?? "    token: abc").split("\n"));
  lines.push("contexts:", "- name: ctx", "  context:", "    cluster: c1", "    user: u1", "");
  return lines.join("\n");
}

describe("kubeconfig", () => {
  test("current-context's server and inline token", () => {
    const f = write("kc/plain", kubeconfig());
    const cfg = loadClusterConfig({ kubeconfig: f });
    assert.deepEqual(cfg, { server: "https://api.example:6443", token: "abc" });
  });

  test("certificate-authority-data and client certificate/key data (base64)", () => {
    const b = (s: string): string => Buffer.from(s).toString("base64");
    const f = write(
      "kc/data",
      kubeconfig({
        cluster: `    server: https://10.0.0.1:6443/\n    certificate-authority-data: ${b("CA")}`,
        user: `    client-certificate-data: ${b("CERT")}\n    client-key-data: ${b("KEY")}`,
      }),
    );
    const cfg = loadClusterConfig({ kubeconfig: f });
    assert.equal(cfg.server, "https://10.0.0.1:6443");
    assert.equal(cfg.ca?.toString(), "CA");
    assert.equal(cfg.cert?.toString(), "CERT");
    assert.equal(cfg.key?.toString(), "KEY");
    assert.equal(cfg.token, undefined);
  });

  test("file paths relative to the kubeconfig's directory; tokenFile kept as a path", () => {
    write("kc2/pki/ca.crt", "CAFILE");
    write("kc2/pki/client.crt", "CERTFILE");
    write("kc2/pki/client.key", "KEYFILE");
    write("kc2/token", "t1");
    const f = write(
      "kc2/config",
      kubeconfig({
        cluster: "    server: https://api:6443\n    certificate-authority: pki/ca.crt",
        user: "    tokenFile: token\n    client-certificate: pki/client.crt\n    client-key: pki/client.key",
      }),
    );
    const cfg = loadClusterConfig({ kubeconfig: f });
    assert.equal(cfg.ca?.toString(), "CAFILE");
    assert.equal(cfg.cert?.toString(), "CERTFILE");
    assert.equal(cfg.key?.toString(), "KEYFILE");
    assert.equal(cfg.tokenFile, path.join(dir, "kc2/token"));
  });

  test("tls-server-name", () => {
    const f = write("kc/sni", kubeconfig({ cluster: "    server: https://10.0.0.1:6443\n    tls-server-name: kubernetes.default" }));
    assert.equal(loadClusterConfig({ kubeconfig: f }).tlsServerName, "kubernetes.default");
  });

  test("insecure-skip-tls-verify", () => {
    const f = write("kc/insecure", kubeconfig({ cluster: "    server: https://api:6443\n    insecure-skip-tls-verify: true" }));
    assert.equal(loadClusterConfig({ kubeconfig: f }).insecureSkipTLSVerify, true);
    const g = write("kc/insecure-bad", kubeconfig({ cluster: "    server: https://api:6443\n    insecure-skip-tls-verify: yes please" }));
    throwsField(() => loadClusterConfig({ kubeconfig: g }), /clusters\[c1\]\.cluster\.insecure-skip-tls-verify$/);
  });

  test("errors name the field at fault", () => {
    throwsField(() => loadClusterConfig({ kubeconfig: path.join(dir, "nope") }), /^kubeconfig$/, /ENOENT/);
    throwsField(() => loadClusterConfig({ kubeconfig: write("e/yaml", "a: [b\n") }), /kubeconfig/, /not YAML/);
    throwsField(() => loadClusterConfig({ kubeconfig: write("e/list", "- a\n") }), /kubeconfig/, /not a YAML map/);
    throwsField(() => loadClusterConfig({ kubeconfig: write("e/nocur", kubeconfig({ current: null })) }), /current-context$/, /missing/);
    throwsField(() => loadClusterConfig({ kubeconfig: write("e/badcur", kubeconfig({ current: "other" })) }), /contexts$/, /"other"/);
    throwsField(() => loadClusterConfig({ kubeconfig: write("e/noserver", kubeconfig({ cluster: "    certificate-authority: x" })) }), /clusters\[c1\]\.cluster\.server$/, /missing/);
    throwsField(() => loadClusterConfig({ kubeconfig: write("e/http", kubeconfig({ cluster: "    server: http://api:8080" })) }), /cluster\.server$/, /https/);
    throwsField(() => loadClusterConfig({ kubeconfig: write("e/url", kubeconfig({ cluster: "    server: not a url" })) }), /cluster\.server$/, /not a URL/);
    throwsField(
      () => loadClusterConfig({ kubeconfig: write("e/b64", kubeconfig({ cluster: "    server: https://a\n    certificate-authority-data: '%%%'" })) }),
      /certificate-authority-data$/,
      /base64/,
    );
    throwsField(
      () => loadClusterConfig({ kubeconfig: write("e/cafile", kubeconfig({ cluster: "    server: https://a\n    certificate-authority: missing.crt" })) }),
      /cluster\.certificate-authority$/,
      /missing\.crt.*ENOENT/,
    );
    throwsField(() => loadClusterConfig({ kubeconfig: write("e/tokfile", kubeconfig({ user: "    tokenFile: /nonexistent/token" })) }), /users\[u1\]\.user\.tokenFile$/);
    throwsField(() => loadClusterConfig({ kubeconfig: write("e/certonly", kubeconfig({ user: "    client-certificate-data: QUJD" })) }), /user\.client-key$/);
    throwsField(() => loadClusterConfig({ kubeconfig: write("e/keyonly", kubeconfig({ user: "    client-key-data: QUJD" })) }), /user\.client-certificate$/);
    throwsField(() => loadClusterConfig({ kubeconfig: write("e/exec", kubeconfig({ user: "    exec:\n      command: aws" })) }), /user\.exec$/, /not supported/);
    throwsField(() => loadClusterConfig({ kubeconfig: write("e/token", kubeconfig({ user: "    token: 42" })) }), /user\.token$/, /string/);
  });
});
