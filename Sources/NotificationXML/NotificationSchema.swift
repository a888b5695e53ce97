import CLibXML2
import Foundation

/// The XSD of the notification document, and a compiled validator for it.
public enum NotificationSchema {
    /// The text of `docs/schema/notification.xsd`, embedded in the binary by SwiftPM (the
    /// target's `notification.xsd` is a link to it), so the binaries need no data files.
    public static let xsd = String(decoding: PackageResources.notification_xsd, as: UTF8.self)
}
