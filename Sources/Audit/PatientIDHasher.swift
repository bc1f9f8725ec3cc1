import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Pseudonymises patient IDs for the audit log: HMAC-SHA-256 keyed with a per-site random salt,
/// so the same patient has the same token at one site but the token cannot be reversed by trying
/// likely IDs without the salt file.
public struct PatientIDHasher: Sendable {
    let key: SymmetricKey

    public init(salt: Data) {
        key = SymmetricKey(data: salt)
    }

    /// Reads the salt at `url`, creating it (32 random bytes, mode 0600) on first use.
    public init(saltFile url: URL) throws(AuditError) {
        if let data = try? Data(contentsOf: url), data.count >= 16 {
            self.init(salt: data)
            return
        }
        var bytes = [UInt8](repeating: 0, count: 32)
        var rng = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = rng.next() }
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0 {
            // Another process made it first: use theirs.
            if errno == EEXIST, let data = try? Data(contentsOf: url), data.count >= 16 {
                self.init(salt: data)
                return
            }
            throw .system(url.path, "creating the patient-ID salt", errno)
        }
        let ok = write(fd, bytes, bytes.count) == bytes.count && fsync(fd) == 0
        close(fd)
        guard ok else { throw .system(url.path, "writing the patient-ID salt", errno) }
        self.init(salt: Data(bytes))
    }

    /// "hmac-sha256:<hex>" of the patient ID.
    public func token(for patientID: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(patientID.utf8), using: key)
        return "hmac-sha256:" + AuditChain.hex(Array(mac))
    }
}
