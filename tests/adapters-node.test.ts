// The chat demo served on Node (`node --import tsx examples/chat/node.ts`): every transport end to end.
import { adapterSuite } from "./helpers/adapter-suite.ts";

adapterSuite("node");
