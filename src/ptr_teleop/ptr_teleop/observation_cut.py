"""Where a recorded episode begins and ends: on whole observations, not on half of one.

An observation is an image and a state published back to back on two best-effort topics, the
state tagged with its image's stamp (the sim bridge does this); the operator's start and end come
on a third topic from another process. Cut at the event's arrival, a bag can begin with one
step's image and the next step's state, or end with a step's state but not its image (the end
event overtook it). So the recorder holds the newest messages while idle and opens a bag with
the episode's first observation (the reset's, by the start event's stamp; if unknown, the
newest whole one) and any newer half, whose other half is on its way; after the end event it
waits, briefly, for the other half of an observation the bag already holds part of.
Untagged states (the real arm: camera and arm stamp separately) cannot be paired; then the bag
opens with the newest message of each topic and closes at the end event. Pure Python.
"""
from __future__ import annotations

from collections import OrderedDict

Message = tuple[str, int, bytes]  # topic, receive time (ns), serialized message


class ObservationCut:
    """Tracks which halves (image, state) of recent observations were held or written."""

    def __init__(self, image_topic: str, state_topic: str, keep: int = 4) -> None:
        self.halves = (image_topic, state_topic)
        self.keep = keep
        self._held: OrderedDict[int, dict[str, tuple[int, bytes]]] = OrderedDict()
        self._untagged: dict[str, tuple[int, bytes]] = {}
        self._written: OrderedDict[int, set[str]] = OrderedDict()

    def hold(self, topic: str, stamp: int | None, t: int, data: bytes) -> None:
        """Keep a message that arrived while no episode was recording."""
        if stamp is None:
            self._untagged[topic] = (t, data)
            return
        self._held.setdefault(stamp, {})[topic] = (t, data)
        self._held.move_to_end(stamp)
        while len(self._held) > self.keep:
            self._held.popitem(last=False)

    def opening(self, first: int | None = None) -> list[Message]:
        """What a new bag starts with, in arrival order: forgets what was held and notes these
        as the bag's first written messages.
        `first` is the stamp of the episode's first observation when known (robot/reset's
        reply; 0 or None: unknown): the bag opens with it (halves too: the other half is on
        its way) or, if none of it came yet, with nothing: the past is not the episode's."""
        whole = [s for s, parts in self._held.items() if len(parts) == len(self.halves)]
        if whole:
            first = first if first is not None and first > 0 else max(whole)
            out = [(topic, t, data, s) for s, parts in self._held.items() if s >= first
                   for topic, (t, data) in parts.items()]
        else:  # nothing pairs: the newest message of each topic
            newest = {topic: (t, data, None) for topic, (t, data) in self._untagged.items()}
            for s, parts in self._held.items():
                for topic, (t, data) in parts.items():
                    if topic not in newest or t >= newest[topic][0]:
                        newest[topic] = (t, data, s)
            out = [(topic, *m) for topic, m in newest.items()]
        self._held.clear()
        self._untagged.clear()
        self._written.clear()
        for topic, _, _, s in out:
            self.wrote(topic, s)
        return [(topic, t, data) for topic, t, data, _ in sorted(out, key=lambda m: m[1])]

    def wrote(self, topic: str, stamp: int | None) -> None:
        """Note a message written to the bag."""
        if stamp is None or topic not in self.halves:
            return
        self._written.setdefault(stamp, set()).add(topic)
        self._written.move_to_end(stamp)
        while len(self._written) > self.keep:
            self._written.popitem(last=False)

    def unfinished(self) -> dict[int, set[str]]:
        """Observations newer than the newest whole one that have only some halves written,
        with the halves they lack. Older halves are not waited for: each topic arrives in
        order, so their other halves were dropped. With nothing whole, nothing pairs ({}),
        unless tagged states were written and no image at all (_imageless)."""
        whole = [s for s, got in self._written.items() if len(got) == len(self.halves)]
        if not whole:
            return self._imageless()
        last = max(whole)
        return {s: set(self.halves) - got for s, got in self._written.items() if s > last}

    def _imageless(self) -> dict[int, set[str]]:
        """A bag of tagged states without a single image holds no step: the images of its
        newest states (late under load) are waited for rather than the bag closed without."""
        image, state = self.halves
        if any(image in got for got in self._written.values()):
            return {}
        return {s: {image} for s, got in self._written.items() if state in got}

    def completes(self, topic: str, stamp: int | None) -> bool:
        """Whether this message is a missing half of an unfinished observation."""
        return stamp is not None and topic in self.unfinished().get(stamp, ())


def demo_problem(counts: dict[str, int], image_topic: str, state_topic: str) -> str | None:
    """Why a bag with these message counts per topic cannot be a demonstration, in a few words
    (None: it can). Every step of a demonstration is an image and a state: a bag without one of
    them holds no step, and converting it fails (or worse, silently yields nothing)."""
    missing = [t for t in (image_topic, state_topic) if not counts.get(t)]
    return f'no {" and no ".join(missing)} recorded' if missing else None
