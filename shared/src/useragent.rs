//! Describing a device from its User-Agent, for devices registered without a name.
//!
//! A handful of ordered substring checks instead of a regex database: it covers the
//! browsers and systems people sign in from, costs nothing at cold start, and its
//! answer is only a default label the client may override with `deviceName`.

use crate::domain::DeviceType;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAgent {
    pub browser: &'static str,
    pub os: &'static str,
    pub device_type: DeviceType,
}

impl UserAgent {
    pub fn parse(ua: &str) -> Self {
        UserAgent {
            browser: browser(ua),
            os: os(ua),
            device_type: device_type(ua),
        }
    }

    /// "Firefox on macOS", "Chrome on Android", or "Unknown device".
    pub fn device_name(&self) -> String {
        match (self.browser, self.os) {
            ("Unknown", "Unknown") => "Unknown device".into(),
            (browser, "Unknown") => browser.into(),
            ("Unknown", os) => format!("{os} device"),
            (browser, os) => format!("{browser} on {os}"),
        }
    }
}

/// Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
fn browser(ua: &str) -> &'static str {
    const BROWSERS: &[(&str, &str)] = &[
        ("Edg/", "Edge"),
        ("EdgA/", "Edge"),
        ("EdgiOS/", "Edge"),
        ("OPR/", "Opera"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("Firefox/", "Firefox"),
        ("FxiOS/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ];
    BROWSERS
        .iter()
        .find(|(token, _)| ua.contains(token))
        .map_or("Unknown", |(_, name)| name)
}

/// Order matters: iPadOS and Android also mention "Mac OS X" and "Linux".
fn os(ua: &str) -> &'static str {
    const SYSTEMS: &[(&str, &str)] = &[
        ("iPad", "iPadOS"),
        ("iPhone", "iOS"),
        ("iPod", "iOS"),
        ("Android", "Android"),
        ("CrOS", "ChromeOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Macintosh", "macOS"),
        ("Linux", "Linux"),
    ];
    SYSTEMS
        .iter()
        .find(|(token, _)| ua.contains(token))
        .map_or("Unknown", |(_, name)| name)
}

fn device_type(ua: &str) -> DeviceType {
    if ua.contains("iPad")
        || ua.contains("Tablet")
        || (ua.contains("Android") && !ua.contains("Mobile"))
    {
        DeviceType::Tablet
    } else if ua.contains("Mobi") || ua.contains("iPhone") || ua.contains("iPod") {
        DeviceType::Mobile
    } else if ["Windows", "Macintosh", "X11", "CrOS", "Linux"]
        .iter()
        .any(|t| ua.contains(t))
    {
        DeviceType::Desktop
    } else {
        DeviceType::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ua: &str, name: &str, device_type: DeviceType) {
        let parsed = UserAgent::parse(ua);
        assert_eq!(parsed.device_name(), name, "{ua}");
        assert_eq!(parsed.device_type, device_type, "{ua}");
    }

    #[test]
    fn common_browsers_and_systems() {
        check(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:131.0) Gecko/20100101 Firefox/131.0",
            "Firefox on macOS",
            DeviceType::Desktop,
        );
        check(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
            "Edge on Windows",
            DeviceType::Desktop,
        );
        check(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari on iOS",
            DeviceType::Mobile,
        );
        check(
            "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/130.0 Mobile/15E148 Safari/604.1",
            "Chrome on iPadOS",
            DeviceType::Tablet,
        );
        check(
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
            DeviceType::Mobile,
        );
        check(
            "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Safari/537.36",
            "Samsung Internet on Android",
            DeviceType::Tablet,
        );
        check(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 OPR/114.0.0.0",
            "Opera on Linux",
            DeviceType::Desktop,
        );
        check("curl/8.5.0", "curl", DeviceType::Unknown);
        check("", "Unknown device", DeviceType::Unknown);
    }
}
