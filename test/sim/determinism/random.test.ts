import { randomSuite } from './cases.js';

randomSuite();
