import type { CutReport } from './causes.js';
import type { Emitter } from './emitter.js';
import {
  avoidTransport,
  type Lesson,
  learnDefaults,
  learnFromCut,
  startTransport,
} from './learn.js';
import type { Clock } from './options.js';
import { expireLessons, type PathProfile, type ProfileStore } from './profile.js';
import type { TransportName } from './transport.js';
import type { TransportChoice } from './transport-choice.js';
import type { ConnectionEvents } from './types.js';

/** The options learning reads. */
export interface LearnerOptions {
  learn: boolean;
  protocol: 'auto' | 'outlast' | 'sse';
  transports: TransportName[];
  /** Lessons older than this are forgotten and the path re-validated; `null`: never. */
  lessonTtlMs: number | null;
  /** The clock lessons are timed by. */
  clock: Clock;
}

/**
 * Turns lost connections into lessons about the path (docs/client.md, "Learning"), applies
 * them to the profile and the transport choice, tells listeners (`learn`, `transport`), and
 * saves the profile.
 */
export class PathLearner {
  constructor(
    private readonly o: LearnerOptions,
    readonly profile: PathProfile,
    private readonly store: ProfileStore | null,
    private readonly emitter: Emitter<ConnectionEvents>,
    private readonly choice: TransportChoice,
  ) {}

  /** Marks `transport` unusable on this path (the lesson is applied by {@link apply}). */
  avoid(transport: TransportName, why: 'refused' | 'buffering', detail: string): Lesson {
    return avoidTransport(
      this.profile,
      transport,
      why,
      this.o.transports,
      detail,
      this.o.clock.now(),
    );
  }

  /**
   * The lessons of one cut (`early`: lessons the loop already drew, such as bursts), applied.
   * Only outlast servers are learned from: a plain SSE server has no other transport.
   */
  fromCut(
    report: CutReport,
    history: readonly CutReport[],
    outlast: boolean,
    early: Lesson[],
  ): Lesson[] {
    const lessons = [...early];
    if (lessons.length === 0 && outlast && this.o.protocol !== 'sse') {
      if (this.o.learn) {
        const settings = { ...learnDefaults, order: this.o.transports };
        lessons.push(...learnFromCut(this.profile, report, history, settings, this.o.clock.now()));
      } else if (report.transport === 'ws' && !report.opened) {
        // Falling back from a transport that cannot open is not learning: always on.
        lessons.push(this.avoid('ws', 'refused', 'WebSocket could not open'));
      }
    }
    this.apply(lessons);
    this.choice.leaveAvoided();
    return lessons;
  }

  /** Tells listeners of each lesson, moves transport where one says so, saves. */
  apply(lessons: readonly Lesson[]): void {
    for (const lesson of lessons) {
      this.emitter.emit('learn', { ...lesson, profile: structuredClone(this.profile) });
      if (lesson.switchTo !== null) this.choice.moveTo(lesson.switchTo, lesson.note);
    }
    if (lessons.length > 0) this.save();
  }

  /**
   * Before each connection: lessons older than `lessonTtlMs` are forgotten, so a connection
   * that lives on (reconnecting for days) re-validates the path too: the next attempt goes
   * back to the transport an expired lesson moved away from, and learns it again if the hop
   * still holds. Returns whether a lesson expired.
   */
  revalidate(): boolean {
    if (!expireLessons(this.profile, this.o.clock.now(), this.o.lessonTtlMs)) return false;
    this.choice.moveTo(
      startTransport(this.o.transports, this.profile),
      this.profile.notes.at(-1) ?? 'lessons expired',
    );
    this.save();
    return true;
  }

  /** The server speaks outlast: remember it for the origin. */
  knowOutlast(): void {
    this.profile.outlast = true;
    this.save();
  }

  /** Saves the profile (best effort: a failing store must not hurt the stream). */
  save(): void {
    if (!this.o.learn || this.store === null) return;
    this.profile.updatedAt = Date.now();
    void Promise.resolve(this.store.set(this.profile)).catch(() => {});
  }
}
