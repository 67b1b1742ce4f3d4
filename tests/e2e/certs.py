"""Certificates that `rexec cert issue` will not make (no extendedKeyUsage, both roles, a
validity of seconds), made by Debian's `openssl ca` with a CA of rexec's own: a dev agent's
state directory holds ca.pem and ca-key.pem."""
import datetime
import pathlib
import subprocess

TIMEOUT = 30

CA_CONF = """\
[ca]
default_ca = local
[local]
database = {dir}/index.txt
serial = {dir}/serial
new_certs_dir = {dir}
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
"""


def _openssl(*args):
    r = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


def _stamp(t):
    return t.strftime("%Y%m%d%H%M%SZ")


def issue(ca_dir, out_dir, name, eku=None, sans=(), seconds=86400, since=3600):
    """Issue NAME.pem and NAME-key.pem in OUT_DIR, a P-256 certificate for CN=NAME signed by the
    CA in CA_DIR: extendedKeyUsage EKU (e.g. "clientAuth" or "clientAuth,serverAuth"; None:
    no such extension), subjectAltNames SANS ("DNS:x", "IP:1.2.3.4"), valid from SINCE seconds
    ago (an hour) until SECONDS from now. Returns (cert path, key path, notAfter as a UTC
    datetime)."""
    ca_dir, out_dir = pathlib.Path(ca_dir), pathlib.Path(out_dir)
    work = out_dir / f"{name}.openssl"
    work.mkdir(parents=True)
    (work / "index.txt").write_text("")
    (work / "serial").write_text("01\n")
    conf = work / "ca.conf"
    conf.write_text(CA_CONF.format(dir=work))
    ext = ["basicConstraints = CA:FALSE", "keyUsage = critical, digitalSignature"]
    if eku:
        ext.append(f"extendedKeyUsage = {eku}")
    if sans:
        ext.append("subjectAltName = " + ", ".join(sans))
    extfile = work / "ext.conf"
    extfile.write_text("\n".join(ext) + "\n")
    cert, key, csr = out_dir / f"{name}.pem", out_dir / f"{name}-key.pem", work / "req.pem"
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-subj", f"/CN={name}", "-out", csr)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    not_after = now + datetime.timedelta(seconds=seconds)
    _openssl("ca", "-batch", "-notext", "-config", conf, "-cert", ca_dir / "ca.pem",
             "-keyfile", ca_dir / "ca-key.pem", "-rand_serial", "-extfile", extfile,
             "-startdate", _stamp(now - datetime.timedelta(seconds=since)),
             "-enddate", _stamp(not_after), "-in", csr, "-out", cert)
    return cert, key, not_after


def client_config(path, ca, cert, key, address, extra=""):
    """A client config at PATH for one host `dev` at ADDRESS (the dev agent's TLS name)."""
    path.write_text(f"ca: {ca}\ncert: {cert}\nkey: {key}\n{extra}"
                    f"hosts:\n  dev: {{ address: \"{address}\", server_name: dev }}\n")
    return path
