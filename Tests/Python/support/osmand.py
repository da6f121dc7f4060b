"""Reports in the OsmAnd protocol, built as the public description gives them (the protocol of the
OsmAnd app's online tracking and of Traccar Client), for the tests of Hermes' phone endpoint.

- `query(...)`: the parameter form (query string or form body): Unix seconds, speed in knots.
- `json_body(...)`: the JSON form that Traccar Client 9 posts: ISO 8601 time, speed in m/s.
"""

import datetime

KNOTS_PER_MPS = 3600 / 1852


def iso(moment):
    return moment.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def query(device, latitude, longitude, moment, speed_mps=10.0):
    return {"id": device, "lat": f"{latitude:.6f}", "lon": f"{longitude:.6f}", "timestamp": str(int(moment.timestamp())),
            "hdop": "1.0", "altitude": "35.0", "speed": f"{speed_mps * KNOTS_PER_MPS:.4f}", "bearing": "0.0",
            "accuracy": "5.0", "batt": "81"}


def json_body(device, latitude, longitude, moment, speed_mps=10.0):
    return {"location": {"timestamp": iso(moment),
                         "coords": {"latitude": latitude, "longitude": longitude, "accuracy": 5.0, "speed": speed_mps,
                                    "heading": 0.0, "altitude": 35.0},
                         "is_moving": True, "odometer": 1200.0, "event": "motionchange",
                         "battery": {"level": 0.81, "is_charging": False}, "activity": {"type": "in_vehicle"},
                         "extras": {}},
            "device_id": device}
