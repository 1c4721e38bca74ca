import { shippedSuite } from './cases.js';

shippedSuite(4, 8);
