// The chat demo served on Bun (`bun run examples/chat/bun.ts`): every transport end to end.
import { adapterSuite } from "./helpers/adapter-suite.ts";

adapterSuite("bun");
