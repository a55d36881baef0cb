// The chat demo served on Deno (`deno serve -A --port PORT examples/chat/deno.ts`): every transport end to end.
import { adapterSuite } from "./helpers/adapter-suite.ts";

adapterSuite("deno");
