import CLibXML2
import Foundation

/// The XSD of the notification document, and a compiled validator for it.
public enum NotificationSchema {
    /// The text of `docs/schema/notification.xsd`, embedded so the binaries need no data files
    /// (a test checks the two are identical; change both together).
    public static let xsd = #"""
<?xml version="1.0" encoding="UTF-8"?>
<!--
  The notification document notify-xml POSTs to the e-mail gateway (schema version 1).
  It is the JSON-to-XML mapping of docs/NOTIFY-XML.md applied to the notification object:
  strings are plain text (escaped="true" when XML-forbidden characters were escaped),
  numbers carry type="number", array items carry array="true" and an empty array is one
  element with array="empty". The same text is embedded in Sources/Notification/
  NotificationSchema.swift; a test keeps the two identical.
-->
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">

  <xs:element name="notification">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="schemaVersion" type="PositiveNumber"/>
        <xs:element name="id" type="NonEmptyText"/>
        <xs:element name="from" type="Address"/>
        <xs:element name="to" type="AddressItem" maxOccurs="unbounded"/>
        <xs:element name="subject" type="Text"/>
        <xs:element name="image" type="Image"/>
        <xs:element name="label" type="Label" maxOccurs="unbounded"/>
        <xs:element name="model" type="Model"/>
        <xs:element name="recognizedAt" type="xs:dateTime"/>
        <xs:element name="notifiedAt" type="xs:dateTime"/>
      </xs:sequence>
    </xs:complexType>
  </xs:element>

  <xs:complexType name="Image">
    <xs:sequence>
      <xs:element name="id" type="NonEmptyText"/>
      <xs:element name="name" type="Text"/>
      <xs:element name="sourceURL" type="Text"/>
      <xs:element name="byteSize" type="Count"/>
    </xs:sequence>
  </xs:complexType>

  <!-- One label, or (with array="empty" and no children) the marker of an empty label list. -->
  <xs:complexType name="Label">
    <xs:sequence minOccurs="0">
      <xs:element name="name" type="Text"/>
      <xs:element name="confidence" type="Confidence"/>
      <xs:element name="parent" type="TextItem" maxOccurs="unbounded"/>
    </xs:sequence>
    <xs:attribute name="array" type="ArrayMark" use="required"/>
  </xs:complexType>

  <xs:complexType name="Model">
    <xs:sequence>
      <xs:element name="name" type="NonEmptyText"/>
      <xs:element name="version" type="Text"/>
    </xs:sequence>
  </xs:complexType>

  <!-- A JSON string. -->
  <xs:complexType name="Text">
    <xs:simpleContent>
      <xs:extension base="xs:string">
        <xs:attribute name="escaped" type="xs:string" fixed="true"/>
      </xs:extension>
    </xs:simpleContent>
  </xs:complexType>

  <xs:complexType name="NonEmptyText">
    <xs:simpleContent>
      <xs:extension base="NonEmptyString">
        <xs:attribute name="escaped" type="xs:string" fixed="true"/>
      </xs:extension>
    </xs:simpleContent>
  </xs:complexType>

  <!-- A string in an array (array="empty" with no text stands for an empty array). -->
  <xs:complexType name="TextItem">
    <xs:simpleContent>
      <xs:extension base="xs:string">
        <xs:attribute name="escaped" type="xs:string" fixed="true"/>
        <xs:attribute name="array" type="ArrayMark" use="required"/>
      </xs:extension>
    </xs:simpleContent>
  </xs:complexType>

  <xs:complexType name="Address">
    <xs:simpleContent>
      <xs:extension base="AddressString"/>
    </xs:simpleContent>
  </xs:complexType>

  <xs:complexType name="AddressItem">
    <xs:simpleContent>
      <xs:extension base="AddressString">
        <xs:attribute name="array" type="xs:string" fixed="true" use="required"/>
      </xs:extension>
    </xs:simpleContent>
  </xs:complexType>

  <xs:complexType name="PositiveNumber">
    <xs:simpleContent>
      <xs:extension base="xs:positiveInteger">
        <xs:attribute name="type" type="xs:string" fixed="number" use="required"/>
      </xs:extension>
    </xs:simpleContent>
  </xs:complexType>

  <xs:complexType name="Count">
    <xs:simpleContent>
      <xs:extension base="xs:nonNegativeInteger">
        <xs:attribute name="type" type="xs:string" fixed="number" use="required"/>
      </xs:extension>
    </xs:simpleContent>
  </xs:complexType>

  <xs:complexType name="Confidence">
    <xs:simpleContent>
      <xs:extension base="Percentage">
        <xs:attribute name="type" type="xs:string" fixed="number" use="required"/>
      </xs:extension>
    </xs:simpleContent>
  </xs:complexType>

  <xs:simpleType name="Percentage">
    <xs:restriction base="xs:double">
      <xs:minInclusive value="0"/>
      <xs:maxInclusive value="100"/>
    </xs:restriction>
  </xs:simpleType>

  <xs:simpleType name="NonEmptyString">
    <xs:restriction base="xs:string">
      <xs:minLength value="1"/>
    </xs:restriction>
  </xs:simpleType>

  <!-- local@domain, no spaces or angle brackets: the gateway puts it in a mail header. -->
  <xs:simpleType name="AddressString">
    <xs:restriction base="xs:string">
      <xs:pattern value="[^@\s&lt;&gt;,;&quot;]+@[^@\s&lt;&gt;,;&quot;]+"/>
      <xs:maxLength value="254"/>
    </xs:restriction>
  </xs:simpleType>

  <xs:simpleType name="ArrayMark">
    <xs:restriction base="xs:string">
      <xs:enumeration value="true"/>
      <xs:enumeration value="empty"/>
    </xs:restriction>
  </xs:simpleType>

</xs:schema>
"""#
}
