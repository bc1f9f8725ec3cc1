internal import CDCMTKNet

/// DICOM Application Entity titles, checked by the same rule the listener and the sender apply.
public enum AETitle {
    /// Why `title` cannot be an AE title (1 to 16 characters of printable ASCII, no backslash, not only
    /// spaces); nil when it can.
    public static func problem(_ title: String) -> String? {
        if cdcmtkn_is_valid_ae_title(title) == 1 { return nil }
        return "'\(title)' cannot be an AE title: it needs 1 to 16 characters of printable ASCII, without backslash, not only spaces"
    }
}
