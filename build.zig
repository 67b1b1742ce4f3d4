// build.zig: rexec and rexec-agent as static musl binaries, every dependency compiled from
// the Debian source packages that packaging/bootstrap unpacks into .deps/src.
//
//   packaging/zig build                      zig-out/bin/{rexec,rexec-agent}, x86_64-linux-musl
//   packaging/zig build -Dtarget=aarch64-linux-musl
//   packaging/zig build release              both architectures, ReleaseSmall, stripped, archives, SHA256SUMS
//   packaging/zig build deb                  Debian packages rexec and rexec-agent, amd64 and arm64
//   packaging/zig build test                 C unit tests, then the end-to-end suite (pytest)
//   packaging/zig build cross-test           aarch64: unit tests and a smoke test under qemu-user
//   packaging/zig build demo                 a dev agent and a real session against it
const std = @import("std");

const version = "0.1.0";
const deps_dir = ".deps/src";

// Flags for third-party code: its own warnings are not ours to fix, and Zig's default
// UBSan trap in Debug would turn benign upstream idioms into crashes.
const dep_flags = [_][]const u8{ "-std=gnu11", "-w", "-fno-sanitize=undefined" };
// Flags for rexec's own code.
const own_flags = [_][]const u8{
    "-std=gnu11",    "-Wall",           "-Wextra",       "-Werror",
    "-Wno-unused-parameter", "-Wshadow", "-Wstrict-prototypes", "-Wmissing-prototypes",
    "-D_GNU_SOURCE",
};

const Deps = struct {
    uv: *std.Build.Step.Compile,
    mbedtls: *std.Build.Step.Compile,
    protobuf_c: *std.Build.Step.Compile,
    ssh: *std.Build.Step.Compile,
    cjson: *std.Build.Step.Compile,
    http_parser: *std.Build.Step.Compile,
    yaml: *std.Build.Step.Compile,
};

const Products = struct {
    agent: ?*std.Build.Step.Compile,
    client: *std.Build.Step.Compile,
    deps: Deps,
    proto: *std.Build.Step.Compile,
    gen_dir: std.Build.LazyPath,
};

pub fn build(b: *std.Build) void {
    const target = b.standardTargetOptions(.{
        .default_target = .{ .cpu_arch = .x86_64, .os_tag = .linux, .abi = .musl },
    });
    const optimize = b.standardOptimizeOption(.{});
    const strip = b.option(bool, "strip", "Strip the binaries") orelse false;
    const gcm = b.option(Gcm, "gcm", "AES-GCM of TLS records: alt (proto/gcm_alt.c, x86_64) or mbedtls (gcm.c)") orelse .alt;
    const sanitize = b.option([]const u8, "sanitize", "Also build zig-out/san/ with Debian's clang and these sanitizers (address,undefined); test runs those");

    // Sources and build-time Debian packages; fast no-op once everything is in place.
    const bootstrap = b.addSystemCommand(&.{b.pathFromRoot("packaging/bootstrap")});
    bootstrap.setName("bootstrap");
    bootstrap.has_side_effects = true;
    if (sanitize != null) bootstrap.addArg("--sanitizers");

    const p = addProducts(b, target, optimize, strip, &bootstrap.step);
    b.installArtifact(p.client);
    if (p.agent) |agent| b.installArtifact(agent);

    const san: ?*Sanitized = if (sanitize) |what| Sanitized.init(b, what, &bootstrap.step) else null;
    if (san) |s| {
        s.install(p.client);
        if (p.agent) |agent| s.install(agent);
    }

    addCompletions(b);
    const release_bins = addRelease(b, &bootstrap.step);
    addDeb(b, release_bins);
    addTests(b, target, p, &bootstrap.step, san);
    addDemo(b);
    addFuzz(b);
    addMan(b, &bootstrap.step);
    addCrossTest(b, &bootstrap.step);
    if (gcm == .mbedtls) useMbedtlsGcm(b) else addGcmChecks(b, target, p, &bootstrap.step);
}

const Gcm = enum { alt, mbedtls };

// The checks of proto/gcm_alt.c beside its cmocka test, in `unit`: against OpenSSL (Debian's
// libssl through python3-cryptography, driving tests/unit/gcm_cli.c) and constant time
// under valgrind (tests/unit/gcm_ct.c). tests/unit/gcm-debs installs what they need.
fn addGcmChecks(b: *std.Build, target: std.Build.ResolvedTarget, p: Products, bootstrap: *std.Build.Step) void {
    if (target.result.cpu.arch != .x86_64 or target.result.os.tag != .linux) return;
    const unit = &b.top_level_steps.get("unit").?.step;
    const debs = b.addSystemCommand(&.{b.pathFromRoot("tests/unit/gcm-debs")});
    debs.setName("gcm-debs");
    debs.has_side_effects = true;
    debs.step.dependOn(bootstrap);

    const cli = b.addExecutable(.{ .name = "gcm_cli", .target = target, .optimize = .ReleaseSafe });
    const ct = b.addExecutable(.{ .name = "gcm_ct", .target = target, .optimize = .ReleaseSafe });
    for ([_]*std.Build.Step.Compile{ cli, ct }) |exe| {
        exe.linkLibC();
        exe.addCSourceFile(.{ .file = b.path(b.fmt("tests/unit/{s}.c", .{exe.name})), .flags = &own_flags });
        addOwnIncludes(b, exe);
        linkDeps(exe, p.deps, p.proto);
        exe.step.dependOn(&debs.step);
    }
    ct.addIncludePath(.{ .cwd_relative = "/usr/include/valgrind" });

    const diff = b.addSystemCommand(&.{ "/usr/bin/python3", b.pathFromRoot("tests/unit/gcm_openssl_diff.py") });
    diff.setName("gcm vs OpenSSL");
    diff.addArtifactArg(cli);
    diff.stdio = .inherit;
    diff.has_side_effects = true;
    const memcheck = b.addSystemCommand(&.{ "valgrind", "-q", "--error-exitcode=1", "--track-origins=yes" });
    memcheck.setName("gcm constant time (valgrind)");
    memcheck.addArtifactArg(ct);
    memcheck.stdio = .inherit;
    memcheck.has_side_effects = true;
    memcheck.step.dependOn(&diff.step);
    // The control: memcheck sees a secret-dependent branch and index in this same binary.
    const control = b.addSystemCommand(&.{ "valgrind", "-q", "--error-exitcode=1", "--log-file=/dev/null" });
    control.setName("gcm constant time: valgrind sees a secret branch");
    control.addArtifactArg(ct);
    control.addArg("--control");
    control.expectExitCode(1);
    control.has_side_effects = true;
    control.step.dependOn(&memcheck.step);
    unit.dependOn(&control.step);
}

// -Dgcm=mbedtls: mbedTLS's own gcm.c instead of proto/gcm_alt.c (see mbedtls_user_config.h),
// for comparing the two. The macro changes mbedTLS's struct layouts, so every C compilation of
// the build gets it: all compile steps reachable from the top-level steps.
fn useMbedtlsGcm(b: *std.Build) void {
    var seen = std.AutoHashMap(*std.Build.Step, void).init(b.allocator);
    var todo = std.ArrayList(*std.Build.Step).init(b.allocator);
    for (b.top_level_steps.values()) |tls| todo.append(&tls.step) catch @panic("OOM");
    while (todo.popOrNull()) |step| {
        if ((seen.getOrPut(step) catch @panic("OOM")).found_existing) continue;
        if (step.cast(std.Build.Step.Compile)) |c| c.root_module.addCMacro("REXEC_GCM_MBEDTLS", "1");
        todo.appendSlice(step.dependencies.items) catch @panic("OOM");
    }
}

fn addProducts(
    b: *std.Build,
    target: std.Build.ResolvedTarget,
    optimize: std.builtin.OptimizeMode,
    strip: bool,
    bootstrap: *std.Build.Step,
) Products {
    // Dependencies are built optimised even in a Debug build of rexec: their debug builds
    // only slow the tests down.
    const dep_optimize: std.builtin.OptimizeMode = if (optimize == .Debug) .ReleaseFast else optimize;
    const deps = Deps{
        .uv = addLibuv(b, target, dep_optimize, bootstrap),
        .mbedtls = addMbedtls(b, target, dep_optimize, bootstrap),
        .protobuf_c = addProtobufC(b, target, dep_optimize, bootstrap),
        .ssh = undefined,
        .cjson = addSimpleLib(b, target, dep_optimize, bootstrap, "cjson", &.{"cJSON.c"}),
        .http_parser = addSimpleLib(b, target, dep_optimize, bootstrap, "http-parser", &.{"http_parser.c"}),
        .yaml = addLibyaml(b, target, dep_optimize, bootstrap),
    };
    var d = deps;
    d.ssh = addLibssh(b, target, dep_optimize, bootstrap, deps.mbedtls);

    // protoc-c turns the wire contract into C at build time; nothing generated is committed.
    const protoc = b.addSystemCommand(&.{"protoc-c"});
    protoc.setName("protoc-c rexec.proto");
    protoc.step.dependOn(bootstrap);
    protoc.addPrefixedDirectoryArg("-I", b.path("proto"));
    const gen_dir = protoc.addPrefixedOutputDirectoryArg("--c_out=", "gen");
    protoc.addFileArg(b.path("proto/rexec.proto"));

    const info = b.addConfigHeader(.{ .style = .blank, .include_path = "rexec_build.h" }, .{
        .REXEC_VERSION = version,
        .REXEC_TARGET = target.query.zigTriple(b.allocator) catch @panic("OOM"),
        .REXEC_OPTIMIZE = @tagName(optimize),
    });

    const proto = b.addStaticLibrary(.{ .name = "rexec-proto", .target = target, .optimize = optimize });
    proto.linkLibC();
    proto.addConfigHeader(info);
    proto.addIncludePath(gen_dir);
    addOwnIncludes(b, proto);
    proto.linkLibrary(d.ssh); // for libssh_version.h, installed by the ssh library
    proto.addCSourceFile(.{ .file = gen_dir.path(b, "rexec.pb-c.c"), .flags = &dep_flags });
    proto.addCSourceFiles(.{ .root = b.path("proto"), .files = globC(b, "proto", ""), .flags = &own_flags });
    proto.addCSourceFiles(.{ .root = b.path("lib"), .files = globC(b, "lib", ""), .flags = &own_flags });

    const client = addBinary(b, "rexec", "client", globC(b, "client", ""), target, optimize, strip, d, proto, gen_dir);

    // The agent drives Linux process and namespace APIs; only the client builds elsewhere.
    const agent = if (target.result.os.tag == .linux)
        addBinary(b, "rexec-agent", "agent", globC(b, "agent", ""), target, optimize, strip, d, proto, gen_dir)
    else
        null;

    return .{ .agent = agent, .client = client, .deps = d, .proto = proto, .gen_dir = gen_dir };
}

// The C files of DIR whose names end in SUFFIX.c, sorted: a module is added by adding its file.
fn globC(b: *std.Build, dir: []const u8, suffix: []const u8) []const []const u8 {
    var list = std.ArrayList([]const u8).init(b.allocator);
    var d = b.build_root.handle.openDir(dir, .{ .iterate = true }) catch |e|
        std.debug.panic("cannot list {s}: {s}", .{ dir, @errorName(e) });
    defer d.close();
    var it = d.iterate();
    while (it.next() catch @panic("readdir")) |entry| {
        if (entry.kind != .file) continue;
        const want = b.fmt("{s}.c", .{suffix});
        if (!std.mem.endsWith(u8, entry.name, want)) continue;
        list.append(b.dupe(entry.name)) catch @panic("OOM");
    }
    std.mem.sort([]const u8, list.items, {}, struct {
        fn lt(_: void, a: []const u8, c: []const u8) bool {
            return std.mem.lessThan(u8, a, c);
        }
    }.lt);
    return list.items;
}

fn addBinary(
    b: *std.Build,
    name: []const u8,
    dir: []const u8,
    sources: []const []const u8,
    target: std.Build.ResolvedTarget,
    optimize: std.builtin.OptimizeMode,
    strip: bool,
    d: Deps,
    proto: *std.Build.Step.Compile,
    gen_dir: std.Build.LazyPath,
) *std.Build.Step.Compile {
    const exe = b.addExecutable(.{
        .name = name,
        .target = target,
        .optimize = optimize,
        .strip = strip,
        .linkage = if (target.result.os.tag == .linux) .static else null,
    });
    exe.linkLibC();
    exe.addCSourceFiles(.{ .root = b.path(dir), .files = sources, .flags = &own_flags });
    exe.addIncludePath(gen_dir);
    addOwnIncludes(b, exe);
    linkDeps(exe, d, proto);
    return exe;
}

// Include paths and macros every rexec translation unit sees (mbedTLS's configuration
// changes struct layouts, so it must be the same everywhere).
fn addOwnIncludes(b: *std.Build, c: *std.Build.Step.Compile) void {
    c.addIncludePath(b.path("."));
    c.addIncludePath(b.path(deps_dir ++ "/libuv/include"));
    c.addIncludePath(b.path(deps_dir ++ "/mbedtls/include"));
    c.addIncludePath(b.path(deps_dir ++ "/protobuf-c"));
    c.addIncludePath(b.path(deps_dir ++ "/libssh/include"));
    c.addIncludePath(b.path(deps_dir ++ "/cjson"));
    c.addIncludePath(b.path(deps_dir ++ "/http-parser"));
    c.addIncludePath(b.path(deps_dir ++ "/libyaml/include"));
    c.addIncludePath(b.path("packaging/deps"));
    c.root_module.addCMacro("MBEDTLS_USER_CONFIG_FILE", "\"mbedtls_user_config.h\"");
    c.root_module.addCMacro("YAML_DECLARE_STATIC", "1");
}

fn linkDeps(c: *std.Build.Step.Compile, d: Deps, proto: *std.Build.Step.Compile) void {
    c.linkLibrary(proto);
    c.linkLibrary(d.ssh);
    c.linkLibrary(d.mbedtls);
    c.linkLibrary(d.uv);
    c.linkLibrary(d.protobuf_c);
    c.linkLibrary(d.cjson);
    c.linkLibrary(d.http_parser);
    c.linkLibrary(d.yaml);
}

fn newDep(
    b: *std.Build,
    name: []const u8,
    target: std.Build.ResolvedTarget,
    optimize: std.builtin.OptimizeMode,
    bootstrap: *std.Build.Step,
) *std.Build.Step.Compile {
    const lib = b.addStaticLibrary(.{ .name = name, .target = target, .optimize = optimize });
    lib.linkLibC();
    lib.step.dependOn(bootstrap);
    return lib;
}

fn addSimpleLib(
    b: *std.Build,
    target: std.Build.ResolvedTarget,
    optimize: std.builtin.OptimizeMode,
    bootstrap: *std.Build.Step,
    name: []const u8,
    files: []const []const u8,
) *std.Build.Step.Compile {
    const lib = newDep(b, name, target, optimize, bootstrap);
    lib.addCSourceFiles(.{ .root = b.path(b.fmt("{s}/{s}", .{ deps_dir, name })), .files = files, .flags = &dep_flags });
    return lib;
}

fn addLibuv(
    b: *std.Build,
    target: std.Build.ResolvedTarget,
    optimize: std.builtin.OptimizeMode,
    bootstrap: *std.Build.Step,
) *std.Build.Step.Compile {
    const lib = newDep(b, "uv", target, optimize, bootstrap);
    const root = b.path(deps_dir ++ "/libuv");
    lib.addIncludePath(root.path(b, "include"));
    lib.addIncludePath(root.path(b, "src"));
    lib.root_module.addCMacro("_FILE_OFFSET_BITS", "64");
    lib.root_module.addCMacro("_LARGEFILE_SOURCE", "1");
    lib.addCSourceFiles(.{ .root = root, .files = &.{
        "src/fs-poll.c",         "src/idna.c",             "src/inet.c",            "src/random.c",
        "src/strscpy.c",         "src/strtok.c",           "src/thread-common.c",   "src/threadpool.c",
        "src/timer.c",           "src/uv-common.c",        "src/uv-data-getter-setters.c",
        "src/version.c",         "src/unix/async.c",       "src/unix/core.c",       "src/unix/dl.c",
        "src/unix/fs.c",         "src/unix/getaddrinfo.c", "src/unix/getnameinfo.c",
        "src/unix/loop-watcher.c", "src/unix/loop.c",      "src/unix/pipe.c",       "src/unix/poll.c",
        "src/unix/process.c",    "src/unix/random-devurandom.c", "src/unix/signal.c",
        "src/unix/stream.c",     "src/unix/tcp.c",         "src/unix/thread.c",     "src/unix/tty.c",
        "src/unix/udp.c",
    }, .flags = &dep_flags });
    switch (target.result.os.tag) {
        .linux => {
            lib.root_module.addCMacro("_GNU_SOURCE", "1");
            lib.addCSourceFiles(.{ .root = root, .files = &.{
                "src/unix/linux.c",            "src/unix/procfs-exepath.c", "src/unix/proctitle.c",
                "src/unix/random-getrandom.c", "src/unix/random-sysctl-linux.c",
            }, .flags = &dep_flags });
        },
        .macos => {
            lib.root_module.addCMacro("_DARWIN_UNLIMITED_SELECT", "1");
            lib.root_module.addCMacro("_DARWIN_USE_64_BIT_INODE", "1");
            lib.addCSourceFiles(.{ .root = root, .files = &.{
                "src/unix/proctitle.c",        "src/unix/bsd-ifaddrs.c", "src/unix/kqueue.c",
                "src/unix/random-getentropy.c", "src/unix/darwin-proctitle.c", "src/unix/darwin.c",
                "src/unix/fsevents.c",
            }, .flags = &dep_flags });
        },
        else => @panic("libuv: unsupported target OS"),
    }
    return lib;
}

fn addMbedtls(
    b: *std.Build,
    target: std.Build.ResolvedTarget,
    optimize: std.builtin.OptimizeMode,
    bootstrap: *std.Build.Step,
) *std.Build.Step.Compile {
    const lib = newDep(b, "mbedtls", target, optimize, bootstrap);
    const root = b.path(deps_dir ++ "/mbedtls");
    lib.addIncludePath(root.path(b, "include"));
    lib.addIncludePath(root.path(b, "library"));
    lib.addIncludePath(b.path("packaging/deps"));
    lib.root_module.addCMacro("MBEDTLS_USER_CONFIG_FILE", "\"mbedtls_user_config.h\"");
    lib.addCSourceFiles(.{ .root = root.path(b, "library"), .files = &mbedtls_sources, .flags = &dep_flags });
    // rexec's GCM (MBEDTLS_GCM_ALT on x86_64, see mbedtls_user_config.h): part of the library,
    // so gcm.c's self test, the cipher layer, PSA and libssh all use it.
    lib.addIncludePath(b.path("."));
    lib.addCSourceFile(.{ .file = b.path("proto/gcm_alt.c"), .flags = &own_flags });
    return lib;
}

// All of mbedTLS 3.6's library/*.c; the configuration header decides what is compiled in.
const mbedtls_sources = [_][]const u8{
    "aes.c",                          "aesce.c",                    "aesni.c",                  "aria.c",
    "asn1parse.c",                    "asn1write.c",                "base64.c",                 "bignum.c",
    "bignum_core.c",                  "bignum_mod.c",               "bignum_mod_raw.c",         "block_cipher.c",
    "camellia.c",                     "ccm.c",                      "chacha20.c",               "chachapoly.c",
    "cipher.c",                       "cipher_wrap.c",              "cmac.c",                   "constant_time.c",
    "ctr_drbg.c",                     "debug.c",                    "des.c",                    "dhm.c",
    "ecdh.c",                         "ecdsa.c",                    "ecjpake.c",                "ecp.c",
    "ecp_curves.c",                   "ecp_curves_new.c",           "entropy.c",                "entropy_poll.c",
    "error.c",                        "gcm.c",                      "hkdf.c",                   "hmac_drbg.c",
    "lmots.c",                        "lms.c",                      "md.c",                     "md5.c",
    "memory_buffer_alloc.c",          "mps_reader.c",               "mps_trace.c",              "net_sockets.c",
    "nist_kw.c",                      "oid.c",                      "padlock.c",                "pem.c",
    "pk.c",                           "pk_ecc.c",                   "pk_wrap.c",                "pkcs12.c",
    "pkcs5.c",                        "pkcs7.c",                    "pkparse.c",                "pkwrite.c",
    "platform.c",                     "platform_util.c",            "poly1305.c",               "psa_crypto.c",
    "psa_crypto_aead.c",              "psa_crypto_cipher.c",        "psa_crypto_client.c",      "psa_crypto_driver_wrappers_no_static.c",
    "psa_crypto_ecp.c",               "psa_crypto_ffdh.c",          "psa_crypto_hash.c",        "psa_crypto_mac.c",
    "psa_crypto_pake.c",              "psa_crypto_random.c",        "psa_crypto_rsa.c",         "psa_crypto_se.c",
    "psa_crypto_slot_management.c",   "psa_crypto_storage.c",       "psa_its_file.c",           "psa_util.c",
    "ripemd160.c",                    "rsa.c",                      "rsa_alt_helpers.c",        "sha1.c",
    "sha256.c",                       "sha3.c",                     "sha512.c",                 "ssl_cache.c",
    "ssl_ciphersuites.c",             "ssl_client.c",               "ssl_cookie.c",             "ssl_debug_helpers_generated.c",
    "ssl_msg.c",                      "ssl_ticket.c",               "ssl_tls.c",                "ssl_tls12_client.c",
    "ssl_tls12_server.c",             "ssl_tls13_client.c",         "ssl_tls13_generic.c",      "ssl_tls13_keys.c",
    "ssl_tls13_server.c",             "threading.c",                "timing.c",                 "version.c",
    "version_features.c",             "x509.c",                     "x509_create.c",            "x509_crl.c",
    "x509_crt.c",                     "x509_csr.c",                 "x509write.c",              "x509write_crt.c",
    "x509write_csr.c",
};

fn addProtobufC(
    b: *std.Build,
    target: std.Build.ResolvedTarget,
    optimize: std.builtin.OptimizeMode,
    bootstrap: *std.Build.Step,
) *std.Build.Step.Compile {
    const lib = newDep(b, "protobuf-c", target, optimize, bootstrap);
    const root = b.path(deps_dir ++ "/protobuf-c");
    lib.addIncludePath(root);
    lib.addCSourceFiles(.{ .root = root, .files = &.{"protobuf-c/protobuf-c.c"}, .flags = &dep_flags });
    return lib;
}

fn addLibyaml(
    b: *std.Build,
    target: std.Build.ResolvedTarget,
    optimize: std.builtin.OptimizeMode,
    bootstrap: *std.Build.Step,
) *std.Build.Step.Compile {
    const lib = newDep(b, "yaml", target, optimize, bootstrap);
    const root = b.path(deps_dir ++ "/libyaml");
    lib.addIncludePath(root.path(b, "include"));
    lib.root_module.addCMacro("YAML_DECLARE_STATIC", "1");
    lib.root_module.addCMacro("YAML_VERSION_MAJOR", "0");
    lib.root_module.addCMacro("YAML_VERSION_MINOR", "2");
    lib.root_module.addCMacro("YAML_VERSION_PATCH", "5");
    lib.root_module.addCMacro("YAML_VERSION_STRING", "\"0.2.5\"");
    lib.addCSourceFiles(.{ .root = root.path(b, "src"), .files = &.{
        "api.c", "dumper.c", "emitter.c", "loader.c", "parser.c", "reader.c", "scanner.c", "writer.c",
    }, .flags = &dep_flags });
    return lib;
}

fn addLibssh(
    b: *std.Build,
    target: std.Build.ResolvedTarget,
    optimize: std.builtin.OptimizeMode,
    bootstrap: *std.Build.Step,
    mbedtls: *std.Build.Step.Compile,
) *std.Build.Step.Compile {
    const lib = newDep(b, "ssh", target, optimize, bootstrap);
    const root = b.path(deps_dir ++ "/libssh");
    const linux = target.result.os.tag == .linux;

    // libssh's CMake configure step, reduced to what musl (and macOS's libc) provide.
    const config = b.addConfigHeader(.{ .style = .blank, .include_path = "config.h" }, .{
        .PACKAGE = "libssh",
        .VERSION = "0.11.5",
        .GLOBAL_CONF_DIR = "/etc/ssh",
        .GLOBAL_BIND_CONFIG = "/etc/ssh/libssh_server_config",
        .GLOBAL_CLIENT_CONFIG = "/etc/ssh/ssh_config",
        .HAVE_ARPA_INET_H = 1,
        .HAVE_GLOB_H = 1,
        .HAVE_GLOB = 1,
        .HAVE_PTY_H = if (linux) @as(?u1, 1) else null,
        .HAVE_UTIL_H = if (linux) null else @as(?u1, 1),
        .HAVE_UTMP_H = 1,
        .HAVE_SYS_TIME_H = 1,
        .HAVE_TERMIOS_H = 1,
        .HAVE_UNISTD_H = 1,
        .HAVE_STDINT_H = 1,
        .HAVE_IFADDRS_H = 1,
        .HAVE_PTHREAD_H = 1,
        .HAVE_ECC = 1,
        .HAVE_SNPRINTF = 1,
        .HAVE_VSNPRINTF = 1,
        .HAVE_ISBLANK = 1,
        .HAVE_STRNCPY = 1,
        .HAVE_STRNDUP = 1,
        .HAVE_CFMAKERAW = 1,
        .HAVE_GETADDRINFO = 1,
        .HAVE_POLL = 1,
        .HAVE_SELECT = 1,
        .HAVE_CLOCK_GETTIME = 1,
        .HAVE_STRTOULL = 1,
        .HAVE_EXPLICIT_BZERO = if (linux) @as(?u1, 1) else null,
        .HAVE_MEMSET_S = if (linux) null else @as(?u1, 1),
        .HAVE_LIBMBEDCRYPTO = 1,
        .HAVE_PTHREAD = 1,
        .HAVE_GCC_THREAD_LOCAL_STORAGE = 1,
        .HAVE_FALLTHROUGH_ATTRIBUTE = 1,
        .HAVE_UNUSED_ATTRIBUTE = 1,
        .HAVE_CONSTRUCTOR_ATTRIBUTE = 1,
        .HAVE_DESTRUCTOR_ATTRIBUTE = 1,
        .HAVE_GCC_VOLATILE_MEMORY_PROTECTION = 1,
        .HAVE_COMPILER__FUNC__ = 1,
        .HAVE_COMPILER__FUNCTION__ = 1,
        .WITH_SFTP = 1,
        .WITH_SERVER = 1,
        .WITH_GEX = 1,
    });
    const ver = b.addConfigHeader(.{
        .style = .{ .cmake = root.path(b, "include/libssh/libssh_version.h.cmake") },
        .include_path = "libssh/libssh_version.h",
    }, .{ .libssh_VERSION_MAJOR = 0, .libssh_VERSION_MINOR = 11, .libssh_VERSION_PATCH = 5 });
    ver.step.dependOn(bootstrap);

    lib.addConfigHeader(config);
    lib.addConfigHeader(ver);
    lib.installConfigHeader(ver);
    lib.addIncludePath(root.path(b, "include"));
    lib.addIncludePath(b.path(deps_dir ++ "/mbedtls/include"));
    lib.addIncludePath(b.path("packaging/deps"));
    lib.root_module.addCMacro("MBEDTLS_USER_CONFIG_FILE", "\"mbedtls_user_config.h\"");
    lib.root_module.addCMacro("LIBSSH_STATIC", "1");
    lib.root_module.addCMacro("_GNU_SOURCE", "1");
    lib.linkLibrary(mbedtls);
    lib.addCSourceFiles(.{ .root = root.path(b, "src"), .files = &libssh_sources, .flags = &dep_flags });
    return lib;
}

// libssh 0.11's sources for the mbedTLS backend with server, SFTP and GEX support;
// ChaCha20-Poly1305 comes from mbedTLS, so external/chacha.c and poly1305.c are left out.
const libssh_sources = [_][]const u8{
    "agent.c",             "auth.c",                   "base64.c",              "bignum.c",
    "buffer.c",            "callbacks.c",              "channels.c",            "client.c",
    "config.c",            "connect.c",                "connector.c",           "crypto_common.c",
    "curve25519.c",        "dh.c",                     "ecdh.c",                "error.c",
    "getpass.c",           "gzip.c",                   "init.c",                "kdf.c",
    "kex.c",               "known_hosts.c",            "knownhosts.c",          "legacy.c",
    "log.c",               "match.c",                  "messages.c",            "misc.c",
    "options.c",           "packet.c",                 "packet_cb.c",           "packet_crypt.c",
    "pcap.c",              "pki.c",                    "pki_container_openssh.c", "poll.c",
    "session.c",           "scp.c",                    "socket.c",              "string.c",
    "threads.c",           "ttyopts.c",                "wrapper.c",             "external/bcrypt_pbkdf.c",
    "external/blowfish.c", "config_parser.c",          "token.c",               "pki_ed25519_common.c",
    "threads/noop.c",      "threads/pthread.c",        "threads/mbedtls.c",     "libmbedcrypto.c",
    "mbedcrypto_missing.c", "pki_mbedcrypto.c",        "ecdh_mbedcrypto.c",     "getrandom_mbedcrypto.c",
    "md_mbedcrypto.c",     "dh_key.c",                 "pki_ed25519.c",         "external/ed25519.c",
    "external/fe25519.c",  "external/ge25519.c",       "external/sc25519.c",    "sftp.c",
    "sftp_common.c",       "sftp_aio.c",               "sftpserver.c",          "server.c",
    "bind.c",              "bind_config.c",            "dh-gex.c",              "external/curve25519_ref.c",
};

// The shell completions (packaging/completions/), installed by the default step where
// Debian's bash-completion, zsh and fish look for those of packages.
fn addCompletions(b: *std.Build) void {
    b.installFile("packaging/completions/rexec.bash", "share/bash-completion/completions/rexec");
    b.installFile("packaging/completions/_rexec", "share/zsh/vendor-completions/_rexec");
    b.installFile("packaging/completions/rexec.fish", "share/fish/vendor_completions.d/rexec.fish");
}

// `release`: both Linux architectures, ReleaseSmall and stripped, into zig-out/release/ARCH;
// then packaging/release makes zig-out/release/rexec-VERSION-linux-ARCH.tar.gz of each (both
// binaries, the man pages and completions of the default install step, the unit, README, NEWS)
// and SHA256SUMS over the archives. Returns the step after which both architectures' binaries
// are installed, for the packages (addDeb).
fn addRelease(b: *std.Build, bootstrap: *std.Build.Step) *std.Build.Step {
    const release = b.step("release", "Build stripped static binaries for x86_64 and aarch64, their archives and SHA256SUMS");
    const bins = b.allocator.create(std.Build.Step) catch @panic("OOM");
    bins.* = std.Build.Step.init(.{ .id = .custom, .name = "release binaries", .owner = b });
    for ([_]std.Target.Cpu.Arch{ .x86_64, .aarch64 }) |arch| {
        const t = b.resolveTargetQuery(.{ .cpu_arch = arch, .os_tag = .linux, .abi = .musl });
        const p = addProducts(b, t, .ReleaseSmall, true, bootstrap);
        const dir = b.fmt("release/{s}", .{@tagName(arch)});
        inline for (.{ p.client, p.agent.? }) |exe| {
            const inst = b.addInstallArtifact(exe, .{ .dest_dir = .{ .override = .{ .custom = dir } } });
            bins.dependOn(&inst.step);
        }
    }
    const archives = b.addSystemCommand(&.{
        b.pathFromRoot("packaging/release"), "--version", version,
        "--share",                           b.getInstallPath(.prefix, "share"),
        "--out",                             b.getInstallPath(.prefix, "release"),
    });
    archives.setName("release archives");
    archives.has_side_effects = true;
    archives.step.dependOn(bins);
    archives.step.dependOn(b.getInstallStep()); // the man pages and completions
    release.dependOn(&archives.step);
    return bins;
}

// `deb`: packaging/deb/build makes zig-out/deb/rexec_VERSION_ARCH.deb and
// rexec-agent_VERSION_ARCH.deb for amd64 and arm64 from the release binaries and the man pages
// and completions of the default install step, and runs lintian on them (bootstrap --deb
// installs it).
fn addDeb(b: *std.Build, release_bins: *std.Build.Step) void {
    const deb = b.step("deb", "Build the Debian packages rexec and rexec-agent for amd64 and arm64 (zig-out/deb)");
    const lintian = b.addSystemCommand(&.{ b.pathFromRoot("packaging/bootstrap"), "--deb" });
    lintian.setName("bootstrap --deb");
    lintian.has_side_effects = true;
    const run = b.addSystemCommand(&.{
        b.pathFromRoot("packaging/deb/build"), "--version", version,
        "--share",                             b.getInstallPath(.prefix, "share"),
        "--out",                               b.getInstallPath(.prefix, "deb"),
        b.fmt("amd64={s}", .{b.getInstallPath(.prefix, "release/x86_64")}),
        b.fmt("arm64={s}", .{b.getInstallPath(.prefix, "release/aarch64")}),
    });
    run.setName("packaging/deb/build");
    run.has_side_effects = true;
    run.stdio = .inherit;
    run.step.dependOn(release_bins);
    run.step.dependOn(&lintian.step);
    run.step.dependOn(b.getInstallStep());
    deb.dependOn(&run.step);
}

// `test`: the C unit tests first, then the end-to-end suite against the installed binaries.
// pytest runs last so that its summary ("N passed") closes the output.
fn addTests(b: *std.Build, target: std.Build.ResolvedTarget, p: Products, bootstrap: *std.Build.Step, san: ?*Sanitized) void {
    const test_step = b.step("test", "Run the C unit tests and the end-to-end tests");
    const unit_step = b.step("unit", "Run the C unit tests only");

    const cmocka = addCmocka(b, target, bootstrap);

    var last_unit: ?*std.Build.Step = null;
    for (globC(b, "tests/unit", "_test")) |file| {
        const exe = addUnitTest(b, file, target, p, cmocka);
        const run = if (san) |s| s.run(exe) else b.addRunArtifact(exe);
        run.stdio = .inherit;
        run.has_side_effects = true;
        // One at a time, so that their output reads in order.
        if (last_unit) |prev| run.step.dependOn(prev);
        last_unit = &run.step;
        unit_step.dependOn(&run.step);
    }

    // The hostile-container helper (tests/hostile/hostile.c): a static binary the e2e tests
    // bind-mount into containers; installed under zig-out/test/, never with the product.
    if (target.result.os.tag == .linux) {
        const hostile = b.addExecutable(.{ .name = "hostile", .target = target, .optimize = .ReleaseSafe, .linkage = .static });
        hostile.linkLibC();
        hostile.addCSourceFile(.{ .file = b.path("tests/hostile/hostile.c"), .flags = &own_flags });
        const hostile_install = b.addInstallArtifact(hostile, .{ .dest_dir = .{ .override = .{ .custom = "test" } } });
        b.getInstallStep().dependOn(&hostile_install.step);
        if (san != null) {
            const dest: std.Build.InstallDir = .{ .custom = Sanitized.dir ++ "/test" };
            b.getInstallStep().dependOn(&b.addInstallArtifact(hostile, .{ .dest_dir = .{ .override = dest } }).step);
        }
    }

    const e2e = b.addSystemCommand(&.{b.pathFromRoot("tests/run-e2e")});
    e2e.setName("e2e (pytest)");
    e2e.stdio = .inherit;
    e2e.has_side_effects = true;
    e2e.setEnvironmentVariable("REXEC_BIN_DIR", if (san != null) b.getInstallPath(.prefix, Sanitized.dir ++ "/bin") else b.getInstallPath(.bin, ""));
    e2e.step.dependOn(b.getInstallStep());
    e2e.step.dependOn(unit_step);
    if (b.args) |args| e2e.addArgs(args);
    test_step.dependOn(&e2e.step);
}

// cmocka (Debian's source) for TARGET, with the configuration its CMake build would find.
fn addCmocka(b: *std.Build, target: std.Build.ResolvedTarget, bootstrap: *std.Build.Step) *std.Build.Step.Compile {
    const cmocka = newDep(b, "cmocka", target, .ReleaseFast, bootstrap);
    const cm_root = b.path(deps_dir ++ "/cmocka");
    cmocka.addIncludePath(cm_root.path(b, "include"));
    const cm_config = b.addConfigHeader(.{ .style = .blank, .include_path = "config.h" }, .{
        .HAVE_SIGNAL_H = 1,
        .HAVE_STRINGS_H = 1,
        .HAVE_INTTYPES_H = 1,
        .HAVE_STDINT_H = 1,
        .HAVE_MALLOC_H = 1,
        .HAVE_SETJMP_H = 1,
        .HAVE_SIGLONGJMP = 1,
        .HAVE_STRSIGNAL = 1,
        .HAVE_CLOCK_GETTIME = 1,
        .HAVE_CLOCK_REALTIME = 1,
        .HAVE_STRUCT_TIMESPEC = 1,
        .HAVE_GCC_THREAD_LOCAL_STORAGE = 1,
    });
    cmocka.addConfigHeader(cm_config);
    cmocka.root_module.addCMacro("HAVE_CONFIG_H", "1");
    // musl has uintptr_t (cmocka.h would otherwise guess it from __WORDSIZE, wrongly on aarch64).
    cmocka.root_module.addCMacro("HAVE_UINTPTR_T", "1");
    cmocka.addCSourceFiles(.{ .root = cm_root.path(b, "src"), .files = &.{"cmocka.c"}, .flags = &dep_flags });
    return cmocka;
}

// The unit test tests/unit/FILE as an executable for TARGET, linked with cmocka and P's libraries.
fn addUnitTest(
    b: *std.Build,
    file: []const u8,
    target: std.Build.ResolvedTarget,
    p: Products,
    cmocka: *std.Build.Step.Compile,
) *std.Build.Step.Compile {
    const name = file[0 .. file.len - 2];
    const exe = b.addExecutable(.{ .name = name, .target = target, .optimize = .Debug });
    exe.linkLibC();
    exe.addCSourceFile(.{ .file = b.path(b.fmt("tests/unit/{s}", .{file})), .flags = &own_flags });
    // A unit test may test a module of the agent or the client directly.
    exe.addCSourceFiles(.{ .root = b.path("tests/unit"), .files = unitModules(b, name), .flags = &own_flags });
    exe.addIncludePath(b.path(deps_dir ++ "/cmocka/include"));
    exe.addIncludePath(p.gen_dir);
    addOwnIncludes(b, exe);
    linkDeps(exe, p.deps, p.proto);
    exe.linkLibrary(cmocka);
    exe.root_module.addCMacro("HAVE_UINTPTR_T", "1");
    return exe;
}

// Modules of agent/ or client/ that a unit test compiles in beside the shared library, named
// in the test's first line: `/* uses: agent/spawn.c client/escape.c */`.
fn unitModules(b: *std.Build, name: []const u8) []const []const u8 {
    var list = std.ArrayList([]const u8).init(b.allocator);
    const text = b.build_root.handle.readFileAlloc(b.allocator, b.fmt("tests/unit/{s}.c", .{name}), 1 << 20) catch
        @panic("read unit test");
    const line = text[0 .. std.mem.indexOfScalar(u8, text, '\n') orelse text.len];
    if (std.mem.indexOf(u8, line, "uses:")) |at| {
        const rest = line[at + 5 ..];
        var words = std.mem.tokenizeAny(u8, rest[0 .. std.mem.indexOf(u8, rest, "*/") orelse rest.len], " \t");
        while (words.next()) |w| list.append(b.fmt("../../{s}", .{w})) catch @panic("OOM");
    }
    return list.items;
}

fn addDemo(b: *std.Build) void {
    const demo = b.step("demo", "Throwaway dev agents (and dockerd, compose) and real sessions, shown");
    const run = b.addSystemCommand(&.{b.pathFromRoot("packaging/demo")});
    run.stdio = .inherit;
    run.has_side_effects = true;
    run.setEnvironmentVariable("REXEC_BIN_DIR", b.getInstallPath(.bin, ""));
    run.step.dependOn(b.getInstallStep());
    demo.dependOn(&run.step);
}

// The manual: each packaging/man/NAME.N.scd through Debian's scdoc (as sway and foot build
// theirs) into zig-out/share/man/manN/NAME.N, by the default install step, where the
// packages and release archives take it from.
fn addMan(b: *std.Build, bootstrap: *std.Build.Step) void {
    const pages = [_][]const u8{ "rexec.1", "rexec-agent.8", "rexec-config.5", "rexec-agent-config.5" };
    for (pages) |page| {
        const scdoc = b.addSystemCommand(&.{"scdoc"});
        scdoc.setName(b.fmt("scdoc {s}", .{page}));
        scdoc.step.dependOn(bootstrap);
        scdoc.setStdIn(.{ .lazy_path = b.path(b.fmt("packaging/man/{s}.scd", .{page})) });
        const dir = b.fmt("share/man/man{s}", .{page[page.len - 1 ..]});
        const inst = b.addInstallFileWithDir(scdoc.captureStdOut(), .{ .custom = dir }, page);
        b.getInstallStep().dependOn(&inst.step);
    }
}

// `cross-test`: the aarch64-linux-musl build (both programs and every unit test) run on this
// machine under Debian's qemu-user-static, each unit test and then tests/cross/smoke.py (an
// aarch64 dev agent and client on loopback). Every binary is run as `qemu-aarch64-static EXE`,
// not through binfmt_misc, which containers and CI machines often lack (Debian's own
// cross-built packages are tested the same way). REXEC_UNDER_QEMU tells the few unit tests
// that look at what qemu-user emulates (/proc/self) to skip that part, saying why; `timeout`
// bounds every run.
fn addCrossTest(b: *std.Build, bootstrap: *std.Build.Step) void {
    const cross = b.step("cross-test", "Build for aarch64 and run the unit tests and a host-session smoke test under qemu-user-static");
    const t = b.resolveTargetQuery(.{ .cpu_arch = .aarch64, .os_tag = .linux, .abi = .musl });
    const p = addProducts(b, t, .Debug, false, bootstrap);
    const debs = b.addSystemCommand(&.{b.pathFromRoot("tests/cross/debs")});
    debs.setName("cross-debs");
    debs.has_side_effects = true;

    const cmocka = addCmocka(b, t, bootstrap);
    var last: *std.Build.Step = &debs.step;
    for (globC(b, "tests/unit", "_test")) |file| {
        const exe = addUnitTest(b, file, t, p, cmocka);
        const run = b.addSystemCommand(&.{ "timeout", "-k", "10", "600", "qemu-aarch64-static" });
        run.setName(b.fmt("qemu-aarch64 {s}", .{exe.name}));
        run.addArtifactArg(exe);
        run.setEnvironmentVariable("REXEC_UNDER_QEMU", "qemu-aarch64-static");
        run.stdio = .inherit;
        run.has_side_effects = true;
        // One at a time, so that their output reads in order and qemu has the machine.
        run.step.dependOn(last);
        last = &run.step;
    }

    const smoke = b.addSystemCommand(&.{ "timeout", "-k", "10", "900", "/usr/bin/python3", b.pathFromRoot("tests/cross/smoke.py") });
    smoke.setName("cross smoke (qemu-aarch64)");
    smoke.addArtifactArg(p.agent.?);
    smoke.addArtifactArg(p.client);
    smoke.stdio = .inherit;
    smoke.has_side_effects = true;
    smoke.step.dependOn(last);
    cross.dependOn(&smoke.step);
}

// `fuzz`: the libFuzzer targets of tests/fuzz, each run -Dfuzz-seconds long. Not a Zig
// compile: libFuzzer and the sanitizers come with Debian's clang, so packaging/fuzz builds a
// glibc binary per target with it (installing clang when missing) and reports executions and
// crashes per target.
fn addFuzz(b: *std.Build) void {
    const fuzz = b.step("fuzz", "Build the libFuzzer targets (Debian's clang) and run each for a while");
    const seconds = b.option(u32, "fuzz-seconds", "Seconds each fuzz target runs (default 60)") orelse 60;
    const run = b.addSystemCommand(&.{ b.pathFromRoot("packaging/fuzz"), "-t", b.fmt("{d}", .{seconds}) });
    run.setName("fuzz");
    run.stdio = .inherit;
    run.has_side_effects = true;
    if (b.args) |args| run.addArgs(args);
    fuzz.dependOn(&run.step);
}
// -Dsanitize=address,undefined: the same build graph compiled by Debian's clang with its
// sanitizer runtimes, glibc and dynamically linked (Zig's static musl target links no ASan and
// its UBSan only traps). Walks each Compile step's sources, flags, include paths and macros, so
// what the sanitized binaries are made of can never drift from the shipped ones. Third-party
// code gets ASan but keeps its -fno-sanitize=undefined. Outputs land in the cache; callers
// install or run them.
const Sanitized = struct {
    b: *std.Build,
    what: []const u8,
    bootstrap: *std.Build.Step,
    archives: std.AutoHashMap(*std.Build.Step.Compile, std.Build.LazyPath),

    // Where the sanitized binaries are installed, beside the shipped ones.
    const dir = "san";

    fn init(b: *std.Build, what: []const u8, bootstrap: *std.Build.Step) *Sanitized {
        const s = b.allocator.create(Sanitized) catch @panic("OOM");
        s.* = .{
            .b = b,
            .what = what,
            .bootstrap = bootstrap,
            .archives = std.AutoHashMap(*std.Build.Step.Compile, std.Build.LazyPath).init(b.allocator),
        };
        return s;
    }

    // Installs the sanitized build of EXE as zig-out/san/bin/NAME.
    fn install(s: *Sanitized, c: *std.Build.Step.Compile) void {
        const inst = s.b.addInstallFile(s.exe(c), s.b.fmt("{s}/bin/{s}", .{ dir, c.name }));
        s.b.getInstallStep().dependOn(&inst.step);
    }

    // Runs the sanitized build of EXE (a unit test).
    fn run(s: *Sanitized, c: *std.Build.Step.Compile) *std.Build.Step.Run {
        const r = std.Build.Step.Run.create(s.b, s.b.fmt("run sanitized {s}", .{c.name}));
        r.addFileArg(s.exe(c));
        return r;
    }

    // The sanitized executable of EXE (a path in the cache).
    fn exe(s: *Sanitized, c: *std.Build.Step.Compile) std.Build.LazyPath {
        const b = s.b;
        var libs = std.ArrayList(std.Build.LazyPath).init(b.allocator);
        var seen = std.AutoHashMap(*std.Build.Step.Compile, void).init(b.allocator);
        s.collectLibs(c, &libs, &seen);
        const link = b.addSystemCommand(&.{ "clang", b.fmt("-fsanitize={s}", .{s.what}), "-o" });
        link.setName(b.fmt("clang -fsanitize={s} {s}", .{ s.what, c.name }));
        const out = link.addOutputFileArg(c.name);
        for (s.objects(c)) |o| link.addFileArg(o);
        link.addArg("-Wl,--start-group");
        for (libs.items) |a| link.addFileArg(a);
        link.addArgs(&.{ "-Wl,--end-group", "-lm" });
        return out;
    }

    // Archives of the libraries C links, depth first, each once.
    fn collectLibs(s: *Sanitized, c: *std.Build.Step.Compile, libs: *std.ArrayList(std.Build.LazyPath), seen: *std.AutoHashMap(*std.Build.Step.Compile, void)) void {
        for (c.root_module.link_objects.items) |lo| switch (lo) {
            .other_step => |lib| {
                if (lib.kind != .lib or seen.contains(lib)) continue;
                seen.put(lib, {}) catch @panic("OOM");
                libs.append(s.archive(lib)) catch @panic("OOM");
                s.collectLibs(lib, libs, seen);
            },
            else => {},
        };
    }

    fn archive(s: *Sanitized, lib: *std.Build.Step.Compile) std.Build.LazyPath {
        if (s.archives.get(lib)) |a| return a;
        const b = s.b;
        const ar = b.addSystemCommand(&.{ "ar", "rcs" });
        ar.setName(b.fmt("ar sanitized lib{s}.a", .{lib.name}));
        const out = ar.addOutputFileArg(b.fmt("lib{s}.a", .{lib.name}));
        for (s.objects(lib)) |o| ar.addFileArg(o);
        s.archives.put(lib, out) catch @panic("OOM");
        return out;
    }

    // One clang run per C source of C, each with its own flags and the module's paths/macros.
    fn objects(s: *Sanitized, c: *std.Build.Step.Compile) []const std.Build.LazyPath {
        const b = s.b;
        var list = std.ArrayList(std.Build.LazyPath).init(b.allocator);
        for (c.root_module.link_objects.items) |lo| switch (lo) {
            .c_source_file => |f| list.append(s.compile(c, f.file, f.flags)) catch @panic("OOM"),
            .c_source_files => |fs| for (fs.files) |f|
                list.append(s.compile(c, fs.root.path(b, f), fs.flags)) catch @panic("OOM"),
            else => {},
        };
        return list.items;
    }

    fn compile(s: *Sanitized, c: *std.Build.Step.Compile, src: std.Build.LazyPath, flags: []const []const u8) std.Build.LazyPath {
        const b = s.b;
        const name = std.fs.path.stem(src.getDisplayName());
        const cc = b.addSystemCommand(&.{ "clang", "-c", "-g", "-O1", "-fno-omit-frame-pointer" });
        cc.step.dependOn(s.bootstrap);
        cc.setName(b.fmt("clang -fsanitize={s} {s}", .{ s.what, src.getDisplayName() }));
        cc.addArgs(&.{ b.fmt("-fsanitize={s}", .{s.what}), "-fno-sanitize-recover=all" });
        cc.addArgs(flags);
        for (c.root_module.include_dirs.items) |inc| switch (inc) {
            .path, .path_system, .path_after => |p| cc.addPrefixedDirectoryArg("-I", p),
            .config_header_step => |ch| {
                var hdir = ch.getOutput();
                var it = std.mem.splitScalar(u8, ch.include_path, '/');
                while (it.next()) |_| hdir = hdir.dirname();
                cc.addPrefixedDirectoryArg("-I", hdir);
            },
            .other_step => |o| if (o.installed_headers_include_tree != null)
                cc.addPrefixedDirectoryArg("-I", o.getEmittedIncludeTree()),
            else => {},
        };
        cc.addArgs(c.root_module.c_macros.items);
        cc.addArgs(&.{ b.fmt("-DREXEC_SANITIZE=\"{s}\"", .{s.what}), "-MD" });
        _ = cc.addPrefixedDepFileOutputArg("-MF", b.fmt("{s}.d", .{name}));
        cc.addArg("-o");
        const out = cc.addOutputFileArg(b.fmt("{s}.o", .{name}));
        cc.addFileArg(src);
        return out;
    }
};
