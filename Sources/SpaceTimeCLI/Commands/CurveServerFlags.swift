import ArgumentParser
import Cluster
import Logging
import SpaceTime
import ZeroMQ

/// The transport-security flags of a command that binds an endpoint for workers
/// (`coordinator`, `cv --bind`, `predict`/`transform --bind`): CURVE keys or an explicit
/// `--insecure`, and the one rule that turns them into the coordinator's CURVE setup.
struct CurveServerFlags: ParsableArguments {
    @Option(name: .customLong("curve-secret"), help: "This coordinator's CURVE secret key file (from 'spacetime keygen'), for --bind.")
    var curveSecret: String?
    @Option(
        name: .customLong("allow-workers"),
        help: "Worker public keys admitted with --curve-secret: a directory of *.public files or a file, one key per line.")
    var allowWorkers: String?
    @Flag(help: "Allow a non-loopback --bind without CURVE (traffic in clear, any peer may join).") var insecure = false

    /// The first of these flags given, for commands that accept them only with `--bind`.
    var firstGiven: String? {
        if curveSecret != nil { return "--curve-secret" }
        if allowWorkers != nil { return "--allow-workers" }
        return insecure ? "--insecure" : nil
    }

    /// The coordinator's CURVE setup for `bind`: CURVE with an allow-list when both key flags
    /// are given; none on a loopback endpoint; on any other endpoint only with `--insecure`,
    /// loudly. Key-file errors are validation errors.
    func curve(bind: String, logger: Logger) throws -> (secretKey: CurveSecretKey, allowedWorkers: [CurvePublicKey])? {
        switch (curveSecret, allowWorkers) {
        case (let secret?, let allow?):
            do {
                let pair = try CurveKeyFiles.loadKeyPair(secretKeyAt: secret)
                let allowed = try CurveKeyFiles.loadAllowList(at: allow).map(\.key)
                logger.info("CURVE on: \(allowed.count) worker key(s) admitted")
                return (pair.secretKey, allowed)
            } catch {
                throw ValidationError("\(error)")
            }
        case (nil, nil):
            if !isLocalEndpoint(bind) {
                guard insecure else {
                    throw ValidationError(
                        "refusing to bind \(bind) without encryption: give --curve-secret and --allow-workers (see 'spacetime keygen'), or --insecure to accept clear-text traffic from any peer"
                    )
                }
                logger.warning("WARNING: --insecure: \(bind) accepts unauthenticated workers and carries data in clear text")
            }
            return nil
        default:
            throw ValidationError("--curve-secret and --allow-workers go together")
        }
    }
}

/// Whether `endpoint` is reachable only from this host (loopback TCP, ipc, inproc).
func isLocalEndpoint(_ endpoint: String) -> Bool {
    if endpoint.hasPrefix("inproc://") || endpoint.hasPrefix("ipc://") { return true }
    guard endpoint.hasPrefix("tcp://") else { return false }
    let rest = endpoint.dropFirst(6)
    let host = rest.hasPrefix("[") ? String(rest.dropFirst().prefix { $0 != "]" }) : String(rest.prefix { $0 != ":" })
    return host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "lo"
}
