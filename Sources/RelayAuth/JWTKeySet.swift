import Foundation
import JWTKit

/// The keys subscriber tokens are verified with, read from files: HMAC secrets (the file's
/// bytes, a trailing newline dropped) and PEM public keys. Several at once, told apart by
/// the token's `kid`, so keys can be rotated: add the new one, reload, move signers over,
/// drop the old one, reload.
///
/// Written as `[kid=]ALG:path[,...]`, e.g. `2026-11=RS256:/etc/sse-relay/jwt-2026-11.pem`.
/// A key without a kid is the default, used for tokens without one (or with an unknown one).
public struct JWTKeySet: Sendable {
    public enum Algorithm: String, Sendable, CaseIterable {
        case hs256 = "HS256", hs384 = "HS384", hs512 = "HS512"
        case rs256 = "RS256", rs384 = "RS384", rs512 = "RS512"
        case es256 = "ES256", es384 = "ES384", es512 = "ES512"
        case eddsa = "EdDSA"
    }

    enum Material: Sendable {
        case hmac(HMACKey, DigestAlgorithm)
        case rsa(Insecure.RSA.PublicKey, DigestAlgorithm)
        case es256(ES256PublicKey)
        case es384(ES384PublicKey)
        case es512(ES512PublicKey)
        case eddsa(EdDSA.PublicKey)
    }

    public struct Entry: Sendable {
        public var kid: String?
        public var algorithm: Algorithm
        public var path: String
        let material: Material
    }

    public var entries: [Entry]

    /// Why a key list cannot be used; the message names the entry, never key bytes.
    public struct LoadError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Reads and parses every key now, so a bad file is found at start-up or reload, not at
    /// the first subscriber.
    public static func load(_ text: String, readFile: (String) -> Data? = { FileManager.default.contents(atPath: $0) }) throws(LoadError) -> JWTKeySet {
        var entries: [Entry] = []
        var kids: Set<String> = []
        var hasDefault = false
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            var rest = Substring(item)
            var kid: String?
            if let equals = rest.firstIndex(of: "="), let colon = rest.firstIndex(of: ":"), equals < colon {
                kid = String(rest[..<equals])
                rest = rest[rest.index(after: equals)...]
            }
            guard let colon = rest.firstIndex(of: ":") else {
                throw LoadError(description: "\(item): must be [kid=]ALG:path, e.g. main=HS256:/etc/sse-relay/jwt.secret")
            }
            let name = String(rest[..<colon])
            let path = String(rest[rest.index(after: colon)...])
            guard let algorithm = Algorithm.allCases.first(where: { $0.rawValue.lowercased() == name.lowercased() }) else {
                throw LoadError(description: "\(item): unknown algorithm \(name) (one of \(Algorithm.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            if let kid {
                guard !kid.isEmpty, kids.insert(kid).inserted else {
                    throw LoadError(description: "\(item): kid \(kid.isEmpty ? "is empty" : "is used twice")")
                }
            } else {
                guard !hasDefault else { throw LoadError(description: "\(item): only one key may go without a kid") }
                hasDefault = true
            }
            guard let data = readFile(path), !data.isEmpty else {
                throw LoadError(description: "\(item): cannot read \(path) (or it is empty)")
            }
            do {
                entries.append(Entry(kid: kid, algorithm: algorithm, path: path, material: try material(algorithm, data)))
            } catch let error as LoadError {
                throw LoadError(description: "\(item): the secret in \(path) is \(error.description) (\(algorithm.rawValue) needs at least as many bytes as its hash)")
            } catch {
                throw LoadError(description: "\(item): \(path) is not a valid \(algorithm.rawValue) key (\(algorithm.isHMAC ? "a secret" : "a PEM public key") expected)")
            }
        }
        guard !entries.isEmpty else {
            throw LoadError(description: "no keys given; write [kid=]ALG:path[,...]")
        }
        return JWTKeySet(entries: entries)
    }

    private static func material(_ algorithm: Algorithm, _ data: Data) throws -> Material {
        let pem = String(decoding: data, as: UTF8.self)
        switch algorithm {
        case .hs256, .hs384, .hs512:
            var bytes = data
            while let last = bytes.last, last == 0x0A || last == 0x0D { bytes.removeLast() }
            // RFC 7518 3.2: a key at least as long as the hash output; shorter ones are guessable.
            let minimum = algorithm == .hs256 ? 32 : algorithm == .hs384 ? 48 : 64
            guard bytes.count >= minimum else { throw LoadError(description: "shorter than \(minimum) bytes") }
            let digest: DigestAlgorithm = algorithm == .hs256 ? .sha256 : algorithm == .hs384 ? .sha384 : .sha512
            return .hmac(HMACKey(from: bytes), digest)
        case .rs256, .rs384, .rs512:
            let digest: DigestAlgorithm = algorithm == .rs256 ? .sha256 : algorithm == .rs384 ? .sha384 : .sha512
            return .rsa(try Insecure.RSA.PublicKey(pem: pem), digest)
        case .es256: return .es256(try ES256PublicKey(pem: pem))
        case .es384: return .es384(try ES384PublicKey(pem: pem))
        case .es512: return .es512(try ES512PublicKey(pem: pem))
        case .eddsa: return .eddsa(try EdDSA.PublicKey(pem: pem))
        }
    }

    /// A fresh jwt-kit key collection holding these keys.
    func makeCollection() async -> JWTKeyCollection {
        let collection = JWTKeyCollection()
        for entry in entries {
            let kid = entry.kid.map { JWKIdentifier(string: $0) }
            switch entry.material {
            case .hmac(let key, let digest): await collection.add(hmac: key, digestAlgorithm: digest, kid: kid)
            case .rsa(let key, let digest): await collection.add(rsa: key, digestAlgorithm: digest, kid: kid)
            case .es256(let key): await collection.add(ecdsa: key, kid: kid)
            case .es384(let key): await collection.add(ecdsa: key, kid: kid)
            case .es512(let key): await collection.add(ecdsa: key, kid: kid)
            case .eddsa(let key): await collection.add(eddsa: key, kid: kid)
            }
        }
        return collection
    }

    /// `kid=ALG` for logs: which keys are in use, never their bytes.
    public var summary: String {
        entries.map { "\($0.kid ?? "(default)")=\($0.algorithm.rawValue)" }.joined(separator: ",")
    }
}

extension JWTKeySet.Algorithm {
    var isHMAC: Bool { self == .hs256 || self == .hs384 || self == .hs512 }
}
